"""Inference-cost modes on cached features (docs/method.md §5, paper Table 23).

Modes: ``full`` (the host on the whole bag, no selector), ``soft`` (GCE: selector + gated host on
the whole bag), ``discrete`` (the host on the recovered subset only, gates 1). Each is timed (best of
``repeats``) and its memory measured during one call: on CUDA the peak the caching allocator reached
above what was allocated before the call (``torch.cuda.max_memory_allocated``); on CPU the bytes
torch allocates (``torch.profiler`` with ``profile_memory``; the CPU allocator has no peak counter,
so the figure is the total allocated, an upper bound of the peak). Ratios are against ``full``.
On CUDA each timed call ends with a synchronisation, so the time covers the kernels, not their launch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from core.models.access import host_of
from core.models.gce import GCEModel
from core.models.subset_rules import gce_evidence
from core.timing import best_ms

__all__ = ["cost_modes"]


def _measure(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """Best time (ms) of ``repeats`` calls and the bytes of one call on ``device``."""
    if device.type == "cuda":
        def synced():
            out = fn()
            torch.cuda.synchronize(device)
            return out

        ms, _ = best_ms(synced, repeats)
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        synced()
        return ms, float(torch.cuda.max_memory_allocated(device) - base)

    ms, _ = best_ms(fn, repeats)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, acc_events=True) as prof:
        fn()
    alloc = sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages())
    return ms, float(alloc)


@torch.inference_mode()
def cost_modes(model, features: torch.Tensor, coords: torch.Tensor | None, subset: np.ndarray | None = None, repeats: int = 5) -> dict:
    """Time (ms) and allocated bytes of each mode, plus ratios to ``full``.

    Parameters
    ----------
    model
        A GCE model (all three modes) or a bare host (``full`` only, plus ``discrete`` if ``subset``).
    features
        (N, D) float32 on the model's device; coords (N, 2) or ``None``; subset: (K,) int evidence
        (GCE: recovered if None).
    """
    host = host_of(model)
    modes = {"full": lambda: host(features, coords)}
    if isinstance(model, GCEModel):
        modes["soft"] = lambda: model(features, coords)
        if subset is None:
            subset = gce_evidence(model, features, coords)[0].indices
    if subset is not None:
        idx = torch.as_tensor(np.asarray(subset, dtype=np.int64), device=features.device)
        xs, cs = features[idx], None if coords is None else coords[idx]
        modes["discrete"] = lambda: host(xs, cs)
    out = {}
    for name, fn in modes.items():
        ms, mem = _measure(fn, repeats, features.device)
        out[name] = {"ms": ms, "bytes": mem}
    for row in out.values():
        row["time_ratio"] = row["ms"] / out["full"]["ms"]
        row["memory_ratio"] = row["bytes"] / out["full"]["bytes"] if out["full"]["bytes"] else float("nan")
    return out
