"""Wall-clock timing shared by the benchmarks and the inference-cost diagnostic."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["best_ms"]


def best_ms(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> tuple[float, Any]:
    """Best (smallest) wall time of ``repeats`` calls of ``fn`` in milliseconds, and the last result.

    ``warmup`` makes one untimed call first (caches, lazy initialisation, allocator growth).
    """
    if warmup:
        fn()
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0, out
