"""Host forward latency on 1k / 10k / 100k-patch bags (D = 1024) on the current device.

Rows (standard format, see :mod:`core.bench`):

* ``<host> N=<n>``: ours = the host's forward (eval, ``inference_mode``, whole bag); baseline =
  gated ABMIL on the same bag, the reference aggregator (``speedup`` = ABMIL time / host time, so
  below 1 means slower than ABMIL); ``max_abs_diff`` is NaN: the models differ.
* ``abmil batched vs per-patch loop N=<n>``: ABMIL's batched forward against a naive loop that
  embeds and scores one patch at a time (the same weights: ``max_abs_diff`` on the logits).
* ``transmil nystrom vs full N=<n>``: TransMIL with Nyström attention (128 landmarks) against exact
  softmax attention (same weights); ``max_abs_diff`` on the logits is the approximation error.
  Exact attention (O(N²) time) runs up to 10k patches (``--quick``: 1k); above, baseline NaN.
  TransMIL's own ``"auto"`` mode uses Nyström above 4096 tokens, so 100k-patch bags run.

Median of ``repeats`` timed runs after one warm-up; CUDA is synchronised around each run.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch

from core.device import pick_device
from core.models.base import HostConfig
from core.models.registry import OWN_HOSTS, build_host

__all__ = ["GROUP", "run"]

GROUP = "models"
D = 1024


def _time(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> tuple[float, torch.Tensor]:
    def once() -> tuple[float, torch.Tensor]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t0) * 1e3, out

    once()
    runs = [once() for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), runs[-1][1]


def _host(name: str, device: torch.device, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = HostConfig(in_dim=D, n_outputs=2, hidden=256, attn_hidden=128, dropout=0.0, extra=tuple(sorted(extra.items())))
    return build_host(name, cfg).to(device).eval()


def _row(case: str, ours: float, base: float, diff: float) -> dict:
    return {"case": case, "ours_ms": ours, "baseline_ms": base, "speedup": base / ours if ours > 0 else math.nan,
            "max_abs_diff": diff}


def run(quick: bool) -> list[dict]:
    """Benchmark rows; ``quick``: 1k and 10k patches, fewer repeats."""
    device = pick_device(None)
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    repeats = 2 if quick else 5
    full_max = 1_000 if quick else 10_000  # exact attention at 10k patches takes about a minute on a CPU
    g = torch.Generator().manual_seed(0)
    abmil = _host("abmil", device)
    rows: list[dict] = []
    for n in sizes:
        x = torch.randn(n, D, generator=g).to(device)  # (N, D)
        rows += _bench_size(x, abmil, device, repeats, full_max)
    return rows


def _bench_size(x: torch.Tensor, abmil: torch.nn.Module, device: torch.device, repeats: int,
                full_max: int) -> list[dict]:
    """The rows of one bag x (N, D)."""
    n = x.shape[0]
    rows = []
    ref_ms, ref_out = _time(lambda: abmil(x).output, device, repeats)
    for name in OWN_HOSTS:
        if name == "abmil":
            ms = ref_ms
        else:
            host = _host(name, device)
            ms, _ = _time(lambda host=host: host(x).output, device, repeats)
        rows.append(_row(f"{name} N={n}", ms, ref_ms, math.nan))
    if n <= 10_000:
        def loop() -> torch.Tensor:
            e = torch.stack([abmil.fc(abmil.norm(x[i:i + 1]))[0] for i in range(n)])  # (N, H)
            z = torch.stack([abmil.attention(e[i:i + 1])[0] for i in range(n)])  # (N,)
            return abmil.head(torch.softmax(z, 0) @ e)  # (C,)

        loop_ms, loop_out = _time(loop, device, 1)
        rows.append(_row(f"abmil batched vs per-patch loop N={n}", ref_ms, loop_ms,
                         float((loop_out - ref_out).abs().max())))
    nys = _host("transmil", device, attention="nystrom")
    nys_ms, nys_out = _time(lambda: nys(x).output, device, repeats)
    if n <= full_max:
        full = _host("transmil", device, attention="full")
        full_ms, full_out = _time(lambda: full(x).output, device, 1)
        rows.append(_row(f"transmil nystrom vs full N={n}", nys_ms, full_ms, float((nys_out - full_out).abs().max())))
    else:
        rows.append(_row(f"transmil nystrom vs full N={n} (full not run: O(N²) time)", nys_ms, math.nan, math.nan))
    return rows
