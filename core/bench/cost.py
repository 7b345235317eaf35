"""Benchmark group ``cost``: GCE's inference-cost modes on bags of thousands of patches.

:func:`core.diagnostics.cost.cost_modes` (docs/method.md §5, paper Table 23) on gated ABMIL wrapped in
GCE (D = 1024, H = 256, M = 8 anchors, untrained, fixed seeds), bags of 1k / 10k / 100k random
patches (``--quick``: 1k / 10k) on the current device (CUDA when present). The discrete mode runs
the host on a fixed 5 % of the bag (a typical evidence fraction; an untrained selector's recovered
subset would be arbitrary). Rows, the baseline being the ``full`` mode (the host alone, whole bag)
of the same bag in the same run:

* ``cost soft N=<n>``: selector + anchor responses + gated host on the whole bag (GCE's forward);
* ``cost discrete 5% N=<n>``: the host on the subset only, every gate 1.

Extra keys: ``memory_ratio`` (bytes of the mode over bytes of ``full``: CUDA peak, or CPU total
allocated; see the diagnostic) and ``device``. ``max_abs_diff`` is NaN: the modes compute
different things.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.device import pick_device
from core.diagnostics.cost import cost_modes
from core.models.base import HostConfig
from core.models.gce import build_gce
from core.models.registry import build_host

__all__ = ["GROUP", "run"]

GROUP = "cost"
D, H, M = 1024, 256, 8


def _model(device: torch.device):
    torch.manual_seed(0)
    host = build_host("abmil", HostConfig(in_dim=D, n_outputs=2, hidden=H, dropout=0.0))
    anchors = np.random.default_rng(0).standard_normal((M, D)).astype(np.float32)
    return build_gce(host, anchors).to(device).eval()


def run(quick: bool = False) -> list[dict]:
    """Rows ``{case, ours_ms, baseline_ms, speedup, max_abs_diff, memory_ratio, device}``."""
    device = pick_device(None)
    model = _model(device)
    rows = []
    for n in (1_000, 10_000) if quick else (1_000, 10_000, 100_000):
        rows += _rows(model, n, device, repeats=2 if quick else 5)
    return rows


def _rows(model, n: int, device: torch.device, repeats: int) -> list[dict]:
    """The two rows of one random bag of ``n`` patches."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, D, generator=g).to(device)  # (N, D)
    c = torch.randint(0, 200_000, (n, 2), generator=g).float().to(device)  # (N, 2)
    subset = np.random.default_rng(1).choice(n, size=max(1, n // 20), replace=False)
    res = cost_modes(model, x, c, subset=subset, repeats=repeats)
    full = res["full"]["ms"]
    return [{"case": f"cost {label} N={n}", "ours_ms": res[mode]["ms"], "baseline_ms": full,
             "speedup": full / res[mode]["ms"], "max_abs_diff": math.nan,
             "memory_ratio": res[mode]["memory_ratio"], "device": device.type}
            for mode, label in (("soft", "soft"), ("discrete", "discrete 5%"))]
