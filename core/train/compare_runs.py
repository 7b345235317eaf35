"""Paired comparison of cross-validation runs on the same folds: ``python -m core.train.compare_runs``.

Two runs of :func:`core.train.cv.run_cv` with the same data, seed, folds and repeats test on the same
bags fold by fold, so their per-fold metrics can be compared pairwise: the mean difference and its
standard error (std of the differences / √n) say more than two fold-std bands. Used for the host
comparisons in docs/results_hosts.md::

    python -m core.train.compare_runs --metric auc OUT/ucsb_breast/dtfd OUT_BOTH/ucsb_breast/dtfd
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from core.errors import EvidentError

__all__ = ["fold_metrics", "main", "paired"]


def fold_metrics(run: str | Path, metric: str) -> dict[tuple[int, int], float]:
    """``{(repeat, fold): value}`` of ``metric`` from a run folder (or its ``results.json``)."""
    p = Path(run)
    p = p / "results.json" if p.is_dir() else p
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return {(int(f["repeat"]), int(f["fold"])): float(f["metrics"][metric]) for f in doc["folds"]}
    except FileNotFoundError:
        raise EvidentError(p, "no results.json here") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvidentError(p, f"not a cross-validation results file with {metric!r} per fold ({exc})") from None


def paired(base: dict, other: dict) -> dict:
    """Mean ± std of ``other`` and its paired difference to ``base`` over their common folds."""
    keys = sorted(set(base) & set(other))
    if not keys:
        raise ValueError("the runs share no (repeat, fold)")
    a = np.array([base[k] for k in keys])  # (n,)
    b = np.array([other[k] for k in keys])  # (n,)
    d = b - a
    return {"n": len(keys), "mean": float(b.mean()), "std": float(b.std()), "diff": float(d.mean()),
            "diff_se": float(d.std() / math.sqrt(len(keys)))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.train.compare_runs", description=__doc__.splitlines()[0])
    p.add_argument("--metric", default="auc", help="per-fold metric (accuracy, macro_f1, auc, c_index)")
    p.add_argument("runs", nargs="+", help="run folders (or results.json); the first is the baseline")
    args = p.parse_args(argv)
    try:
        runs = [fold_metrics(r, args.metric) for r in args.runs]
        rows = [paired(runs[0], r) for r in runs]
    except (EvidentError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"| run | {args.metric} mean ± std | paired difference vs the first ± s.e. | folds |")
    print("|---|---|---|---|")
    for name, r in zip(args.runs, rows):
        print(f"| {name} | {r['mean']:.3f} ± {r['std']:.3f} | {r['diff']:+.3f} ± {r['diff_se']:.3f} | {r['n']} |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
