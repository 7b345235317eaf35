"""Paired comparison of two training settings over the same cross-validation folds.

Two ``evident train`` runs with the same ``--folds/--repeats/--seed`` test on the same splits, so
their per-fold accuracies pair up: the difference per (repeat, fold) removes the fold's own
difficulty, the main source of the fold spread (docs/results_hosts.md, "Default training settings").

The interval is Student's t over the ``n = k·r`` paired differences, with the Nadeau–Bengio
correction for the overlap of training sets between folds (Bouckaert & Frank 2004, "corrected
repeated k-fold cv test"): variance × (1/n + n_test/n_train), n_test/n_train = 1/(k−1) for k-fold.
The uncorrected interval (variance / n) is returned beside it; it is too narrow because the folds
share training data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["interval_table", "paired_difference", "shortfall_intervals"]


def paired_difference(a: Sequence[float], b: Sequence[float], folds: int, level: float = 0.95) -> dict:
    """Mean of ``a − b`` over paired folds with its t interval.

    Parameters
    ----------
    a, b
        Per-fold values (e.g. accuracy) in the same (repeat, fold) order, length ``n = k·r``.
    folds
        k (for the training-overlap correction ``1/(k−1)``).

    Returns
    -------
    dict
        ``mean``, ``lo``/``hi`` (corrected interval), ``lo_naive``/``hi_naive`` (variance/n),
        ``n``, ``sd`` (sample std of the differences). With n < 2 the intervals are NaN.

    Raises
    ------
    ValueError
        ``a`` and ``b`` differ in length, or ``folds`` < 2.
    """
    from scipy import stats  # local: scipy only when used

    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} vs {len(b)}")
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    n, mean = d.size, float(d.mean())
    if n < 2:
        nan = math.nan
        return {"mean": mean, "lo": nan, "hi": nan, "lo_naive": nan, "hi_naive": nan, "n": n, "sd": nan}
    sd = float(d.std(ddof=1))
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    half = t * sd * math.sqrt(1.0 / n + 1.0 / (folds - 1))
    half_naive = t * sd / math.sqrt(n)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "lo_naive": mean - half_naive,
            "hi_naive": mean + half_naive, "n": n, "sd": sd}


def shortfall_intervals(rows: list[dict], best: dict[str, float], metric_folds: str = "fold_accuracy") -> dict:
    """Each setting's shortfall from its combo's best setting, paired over folds.

    Parameters
    ----------
    rows
        :func:`core.train.default_grid.run_grid` rows (``combo``, ``setting``, ``accuracy``, ``folds`` k,
        ``fold_accuracy``: one value per (repeat, fold)).
    best
        {combo: best mean accuracy} (:func:`core.train.default_grid.choose`).

    Returns
    -------
    dict
        {combo: {"best_setting": name, "shortfall": {setting: :func:`paired_difference` of best − setting}}},
        only for settings run on the same folds as the best one.
    """
    out: dict[str, dict] = {}
    for combo, value in best.items():
        here = [r for r in rows if r["combo"] == combo and r.get(metric_folds)]
        top = next((r for r in here if abs(r["accuracy"] - value) < 1e-12), None)
        if top is None:
            continue
        out[combo] = {"best_setting": top["setting"], "shortfall": {
            r["setting"]: paired_difference(top[metric_folds], r[metric_folds], int(r.get("folds", 5)))
            for r in here if len(r[metric_folds]) == len(top[metric_folds])}}
    return out


def interval_table(intervals: dict) -> str:
    """Markdown: per combo and setting, the paired shortfall with its corrected (and naive) 95% interval."""
    lines = ["| combo | best setting | setting | shortfall | 95% interval (corrected) | 95% interval (naive) | n |",
             "|---|---|---|---|---|---|---|"]
    for combo, d in intervals.items():
        for s, iv in d["shortfall"].items():
            if s == d["best_setting"]:
                continue
            lines.append(f"| {combo} | {d['best_setting']} | {s} | {iv['mean']:.3f} | [{iv['lo']:.3f}, {iv['hi']:.3f}] | "
                         f"[{iv['lo_naive']:.3f}, {iv['hi_naive']:.3f}] | {iv['n']} |")
    return "\n".join(lines) + "\n"
