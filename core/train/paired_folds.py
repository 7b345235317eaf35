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

__all__ = ["paired_difference"]


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

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} vs {len(b)}")
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
