"""Benchmarks, apart from the tests: one module per group, each comparing against a baseline
measured in the same run.

A group module defines ``GROUP`` (its name) and ``run(quick: bool) -> list[dict]``; each row has
``case`` (str), ``ours_ms``, ``baseline_ms``, ``speedup`` (``baseline_ms / ours_ms``) and
``max_abs_diff`` (how far our result is from the baseline's; 0 when they must agree exactly), plus
optional extra keys. ``evident bench [GROUP] [--quick] [--json]`` runs them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["discover", "ROW_KEYS"]

ROW_KEYS = ("case", "ours_ms", "baseline_ms", "speedup", "max_abs_diff")


def discover() -> dict[str, ModuleType]:
    """``{GROUP: module}`` for every benchmark module of this package, sorted by group name."""
    groups: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "GROUP") and hasattr(mod, "run"):
            groups[mod.GROUP] = mod
    return dict(sorted(groups.items()))
