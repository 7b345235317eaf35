"""Benchmark group ``encoders``: patch-feature extraction throughput of timm models on this machine.

Rows (standard format, see :mod:`core.bench`), one per model, ViT-S/16 (``vit_small_patch16_224``)
and ResNet-50 (``resnet50``), both with random weights (timm builds them without downloading):

* ``<arch> batched B=<b> vs per-patch loop (<n> patches of 256 px)``: ours =
  :class:`core.extract.encoders.timm_encoder.ModelEncoder` encoding ``n`` random 256-px uint8 patches
  in batches of ``b`` (the transform on the whole batch, ``inference_mode``, channels-last for the
  ResNet); baseline = a plain loop that transforms and encodes one patch at a time (the same
  transform and weights, contiguous memory format). Times are per patch (best of ``repeats``); the
  extra keys ``patches_per_s`` / ``baseline_patches_per_s`` give the throughputs, ``max_abs_diff``
  how far the batched features are from the loop's.

Extra keys: ``device``, ``threads`` (torch intra-op threads), ``load_avg_1min`` (the machine may be
shared). ``--quick``: 8 patches, 1 repeat; else 16 patches, 2 repeats (4.5 and 10.7 minutes of wall
time measured on a 2-core machine at load average 18-22: the models are large for a CPU).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from core.device import pick_device
from core.timing import best_ms

__all__ = ["GROUP", "run", "bench_encoder"]

GROUP = "encoders"
MODELS = ("vit_small_patch16_224", "resnet50")


def _load_avg() -> float:
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return float("nan")


def bench_encoder(arch: str, *, n: int = 32, batch: int = 16, repeats: int = 2, device: str | None = None,
                  options: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """One row: ``arch`` (random weights, ``options`` to ``timm.create_model``) batched vs per patch."""
    import torch  # local: torch only when used

    from core.extract.encoders.preprocess import Preprocess
    from core.extract.encoders.timm_encoder import ModelEncoder, timm_model

    dev = pick_device(device)
    torch.manual_seed(seed)
    model = timm_model(arch, num_classes=0, **(options or {}))
    import timm.data  # local: timm only when used (imported by timm_model)

    cfg = timm.data.resolve_model_data_config(model)
    side = int(cfg["input_size"][-1])
    pre = Preprocess(int(side / float(cfg.get("crop_pct") or 1.0)), side, tuple(cfg["mean"]), tuple(cfg["std"]),
                     cfg["interpolation"] if cfg["interpolation"] in ("bilinear", "bicubic") else "bilinear")
    enc = ModelEncoder(model, pre, arch, device=str(dev), precision="fp32")
    patches = np.random.default_rng(seed).integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)

    def batched() -> np.ndarray:
        return np.concatenate([enc.encode(patches[i:i + batch]) for i in range(0, n, batch)])

    plain = timm_model(arch, num_classes=0, **(options or {})).eval().to(dev)
    plain.load_state_dict(model.state_dict())

    def per_patch() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for p in patches:
                x = pre(torch.from_numpy(p[None]).to(dev))  # (1, 3, S, S)
                out.append(plain(x).float().cpu().numpy()[0])
        return np.stack(out)

    ours_ms, ours = best_ms(batched, repeats)
    base_ms, base = best_ms(per_patch, repeats)
    ours_ms, base_ms = ours_ms / n, base_ms / n
    return {"case": f"{arch} batched B={batch} vs per-patch loop ({n} patches of 256 px)",
            "ours_ms": ours_ms, "baseline_ms": base_ms, "speedup": base_ms / ours_ms,
            "max_abs_diff": float(np.abs(ours - base).max()),
            "patches_per_s": 1e3 / ours_ms, "baseline_patches_per_s": 1e3 / base_ms,
            "channels_last": enc.channels_last, "device": dev.type, "threads": torch.get_num_threads(),
            "load_avg_1min": _load_avg()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The two rows (ViT-S/16, ResNet-50)."""
    n, repeats = (8, 1) if quick else (16, 2)
    return [bench_encoder(arch, n=n, batch=min(16, n), repeats=repeats) for arch in MODELS]
