"""Patch encoders built with ``timm``: any timm architecture (``timm:ARCH``) and the named
foundation models of :mod:`core.extract.encoders.foundation` (``uni_v1``, ``conch_v1``, ...).

The model is built with random weights (``pretrained=False``: timm never downloads), then the
weights are loaded from ``--weights FILE`` or from the local Hugging Face cache and checked key by
key (:mod:`core.weights`). Patches go through the model's eval transform
(:class:`core.extract.encoders.preprocess.Preprocess`) on the inference device, in batches, under
``torch.inference_mode()``; on CUDA under ``torch.autocast`` with the model's precision (fp16/bf16,
as TRIDENT runs it) and, for convolutional networks, in channels-last memory format. On CPU the
model runs in float32. See docs/bring_your_own.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.device import pick_device
from core.errors import EvidentError
from core.extract.encoders.base import PatchEncoder, check_patches
from core.extract.encoders.conch import IGNORED as CONCH_IGNORED
from core.extract.encoders.conch import PREFIX as CONCH_PREFIX
from core.extract.encoders.conch import build_conch_tower
from core.extract.encoders.foundation import FOUNDATION_ENCODERS, FoundationSpec
from core.extract.encoders.preprocess import Preprocess
from core.torchvision_compat import prepare_torchvision
from core.weights import cached_hub_file, load_checked, read_state_dict

__all__ = ["ModelEncoder", "PRECISIONS", "build_timm_encoder", "build_foundation_encoder", "timm_model"]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


class ModelEncoder(PatchEncoder):
    """Encode patches with an in-memory ``torch.nn.Module``.

    Parameters
    ----------
    model
        Maps (B, 3, S, S) float32 to (B, D) (or, with ``pooling="cls_mean"``, to (B, T, C) tokens).
    preprocess
        The eval transform producing the (B, 3, S, S) input.
    name
        Encoder name (the ``features_<name>`` folder).
    device
        Torch device string; ``None``/``"auto"``: CUDA, then MPS, then CPU.
    precision
        ``"auto"`` (``default_precision`` on CUDA, float32 elsewhere), ``"fp32"``, ``"fp16"``, ``"bf16"``;
        half precisions run under ``torch.autocast`` on CUDA only.
    pooling, prefix_tokens
        ``"model"`` or ``"cls_mean"`` (see :class:`core.extract.encoders.foundation.FoundationSpec`).
    channels_last
        ``None``: on for networks with more than one convolution (ResNets), off for ViTs.
    patch_size, magnification
        Recommended extraction settings (None: the command's defaults).
    """

    def __init__(self, model, preprocess: Preprocess, name: str, *, device: str | None = None,
                 precision: str = "auto", default_precision: str = "fp32", pooling: str = "model",
                 prefix_tokens: int = 1, channels_last: bool | None = None,
                 patch_size: int | None = None, magnification: float | None = None) -> None:
        import torch  # local: torch only when used

        if precision not in PRECISIONS:
            raise EvidentError(None, f"unknown precision {precision!r} (use one of: {', '.join(PRECISIONS)})")
        self.device = pick_device(device)
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"
        self.preprocess = preprocess
        self.pooling, self.prefix_tokens = pooling, prefix_tokens
        self.patch_size, self.magnification = patch_size, magnification
        chosen = default_precision if precision == "auto" else precision
        self.precision = chosen if self.device.type == "cuda" else "fp32"
        self._dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
        self.channels_last = n_conv > 1 if channels_last is None else bool(channels_last)
        self.model = model.eval().to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        probe = self._run(np.full((2, preprocess.crop, preprocess.crop, 3), 128, dtype=np.uint8))
        self.dim = int(probe.shape[1])

    def encode(self, patches: np.ndarray) -> np.ndarray:
        """Encode a batch: (B, H, W, 3) uint8 RGB -> (B, dim) float32."""
        x = check_patches(patches)
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        import torch  # local: torch only when used

        if not x.flags.writeable:  # torch.from_numpy warns on read-only arrays (e.g. memory-mapped)
            x = x.copy()
        with torch.inference_mode():
            t = self.preprocess(torch.from_numpy(x).to(self.device))  # (B, 3, S, S) float32
            if self.channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            if self._dtype is not None:
                with torch.autocast(self.device.type, dtype=self._dtype):
                    out = self.model(t)
            else:
                out = self.model(t)
            if self.pooling == "cls_mean":  # (B, T, C) tokens -> (B, 2C)
                out = torch.cat([out[:, 0], out[:, self.prefix_tokens:].mean(1)], dim=-1)
            if out.ndim != 2 or out.shape[0] != x.shape[0]:
                raise EvidentError(None, f"encoder {self.name!r} returned shape {tuple(out.shape)}, "
                                         f"not (B, D) for B={x.shape[0]}")
            arr = out.float().cpu().numpy()
        if not np.isfinite(arr).all():
            raise EvidentError(None, f"encoder {self.name!r} returned NaN or Inf features")
        return np.ascontiguousarray(arr, dtype=np.float32)


def _resolve_layers(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Replace the names ``"SwiGLUPacked"``/``"SiLU"``/``"GELU"`` by the classes timm expects."""
    import torch  # local: torch only when used

    prepare_torchvision()
    import timm.layers  # local: timm only when used

    names = {"SwiGLUPacked": timm.layers.SwiGLUPacked, "SiLU": torch.nn.SiLU, "GELU": torch.nn.GELU}
    return {k: names.get(v, v) if isinstance(v, str) and k in ("mlp_layer", "act_layer") else v
            for k, v in kwargs.items()}


def _timm_module(arch: str):
    """The ``timm`` module, after checking that it is installed and knows ``arch``."""
    try:
        prepare_torchvision()
        import timm  # local: timm only when used
    except ImportError:
        raise EvidentError(None, "timm encoders need the 'foundation' extra: pip install 'evident[foundation]'") from None
    if not timm.is_model(arch.split(".")[0]):
        raise EvidentError(None, f"timm has no architecture {arch!r} (see timm.list_models())")
    return timm


def timm_model(arch: str, **kwargs):
    """``timm.create_model(arch, pretrained=False, **kwargs)`` with random weights.

    Raises
    ------
    EvidentError
        timm is not installed, the architecture is unknown or the keyword arguments do not fit it.
    """
    timm = _timm_module(arch)
    try:
        return timm.create_model(arch, pretrained=False, **_resolve_layers(kwargs))
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise EvidentError(None, f"timm:{arch} cannot be built with {kwargs} ({exc})") from None


def _load_model(factory, state_dict, path: Path, what: str, ignore: tuple[str, ...] = ()):
    """``factory()`` with the weights of ``state_dict`` (checked against the model's keys and shapes).

    The model is first built on the meta device and the file's tensors are assigned to it, which
    skips the random initialisation (a minute for a billion-parameter ViT on a CPU); when some
    tensor is left on the meta device (one the file does not hold, e.g. a non-persistent buffer), it
    is built normally and the weights are copied in.
    """
    import itertools

    import torch  # local: torch only when used

    with torch.device("meta"):
        model = factory()
    load_checked(model, state_dict, path, what, ignore, assign=True)
    if any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        model = factory()
        load_checked(model, state_dict, path, what, ignore)
    return model


def _weights_file(weights: str | os.PathLike | None, repo: str, files: tuple[str, ...], what: str,
                  allow_download: bool) -> Path:
    if weights:
        return Path(weights)
    found = cached_hub_file(repo, files, allow_download=allow_download)
    if found is None:
        raise EvidentError(None, f"no weights for {what}: pass --weights FILE (.pth/.bin/.safetensors), or put "
                                 f"the Hugging Face repo {repo} in the local cache (HF_HOME), or add "
                                 "--allow-download to fetch it (gated repos need huggingface-cli login)")
    return found


def build_timm_encoder(arch: str, *, weights: str | os.PathLike | None = None, device: str | None = None,
                       precision: str = "auto", options: dict[str, Any] | None = None,
                       allow_download: bool = False, size: int | None = None,
                       mean_std: tuple | None = None) -> ModelEncoder:
    """``timm:ARCH``: any timm model with weights from ``weights`` or the cache (repo ``timm/ARCH``).

    ``options`` are extra ``timm.create_model`` keyword arguments (``num_classes`` defaults to 0:
    the pooled features). The transform is timm's eval transform for the model
    (``timm.data.resolve_model_data_config``: input size, interpolation, crop fraction, mean/std);
    ``size`` and ``mean_std`` override the input size and the normalisation.
    """
    kwargs = {"num_classes": 0, **(options or {})}
    _timm_module(arch)  # an unknown architecture is reported before missing weights
    path = _weights_file(weights, f"timm/{arch}", ("model.safetensors", "pytorch_model.bin"),
                         f"timm:{arch}", allow_download)
    model = _load_model(lambda: timm_model(arch, **kwargs), read_state_dict(path), path, f"timm:{arch}")
    import timm.data  # local: timm only when used

    cfg = timm.data.resolve_model_data_config(model)
    side = int(size or cfg["input_size"][-1])
    crop_pct = 1.0 if size else float(cfg.get("crop_pct") or 1.0)
    mean, std = mean_std or (tuple(cfg["mean"]), tuple(cfg["std"]))
    interp = cfg.get("interpolation", "bilinear")
    pre = Preprocess(int(side / crop_pct), side, tuple(mean), tuple(std),
                     interp if interp in ("bilinear", "bicubic") else "bilinear")
    return ModelEncoder(model, pre, arch.replace("/", "_"), device=device, precision=precision)


def foundation_model(spec: FoundationSpec, options: dict[str, Any] | None = None):
    """The spec's architecture with random weights (``options`` override its timm kwargs)."""
    kwargs = {**spec.timm_kwargs, **(options or {})}
    if spec.arch == "conch":
        return build_conch_tower(kwargs)
    return timm_model(spec.arch, **kwargs)


def foundation_preprocess(spec: FoundationSpec) -> Preprocess:
    """The spec's eval transform."""
    return Preprocess(spec.resize, spec.crop, spec.mean, spec.std, spec.interpolation)


def build_foundation_encoder(name: str, *, weights: str | os.PathLike | None = None, device: str | None = None,
                             precision: str = "auto", options: dict[str, Any] | None = None,
                             allow_download: bool = False) -> ModelEncoder:
    """A named encoder of :data:`FOUNDATION_ENCODERS` with its weights, transform and precision.

    Raises
    ------
    EvidentError
        Unknown name, no weights, weights that do not fit (listing the keys), or an output width
        other than the spec's (unless ``options`` change the architecture).
    """
    if name not in FOUNDATION_ENCODERS:
        raise EvidentError(None, f"unknown encoder {name!r} (named encoders: {', '.join(FOUNDATION_ENCODERS)})")
    spec = FOUNDATION_ENCODERS[name]
    path = _weights_file(weights, spec.hub_repo, spec.hub_files, name, allow_download)
    conch = spec.arch == "conch"
    sd = read_state_dict(path, prefix=CONCH_PREFIX if conch else "")
    model = _load_model(lambda: foundation_model(spec, options), sd, path, name, CONCH_IGNORED if conch else ())
    enc = ModelEncoder(model, foundation_preprocess(spec), spec.name, device=device, precision=precision,
                       default_precision=spec.precision, pooling=spec.pooling, prefix_tokens=spec.prefix_tokens,
                       patch_size=spec.patch_size, magnification=spec.magnification)
    if not options and enc.dim != spec.dim:
        raise EvidentError(path, f"{name} gives {enc.dim} features, expected {spec.dim}")
    return enc
