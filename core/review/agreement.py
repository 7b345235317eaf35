"""Agreement between two patch-score maps of one slide (top-k overlap, Jaccard, rank correlation),
and the bimodality of one map (Sarle's coefficient, for the gate histogram).

For maps ``a`` and ``b`` over the same N patches (only patches finite in both count):

* ``top-k`` sets: the ``k`` highest-scoring patches of each map (ties broken by patch index, a
  stable sort of ``-score``);
* ``overlap`` = ``|T_a ∩ T_b|`` and ``overlap_fraction`` = ``overlap / k``;
* ``jaccard`` = ``|T_a ∩ T_b| / |T_a ∪ T_b|``;
* ``spearman`` = Spearman's rank correlation over all patches (:func:`scipy.stats.spearmanr`,
  average ranks for ties); NaN when either map is constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Agreement", "agreement", "bimodality_coefficient", "top_k"]


@dataclass(frozen=True)
class Agreement:
    """Agreement numbers of two maps at one ``k`` (see the module docstring)."""

    k: int
    n: int
    overlap: int
    overlap_fraction: float
    jaccard: float
    spearman: float

    def describe(self) -> str:
        """One line for the compare view."""
        rho = "n/a" if not np.isfinite(self.spearman) else f"{self.spearman:+.3f}"
        return (f"top-{self.k} overlap {self.overlap}/{self.k} ({100 * self.overlap_fraction:.0f}%), "
                f"Jaccard {self.jaccard:.3f}, Spearman ρ {rho} (n = {self.n})")


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """(k,) int64 indices of the ``k`` highest finite scores of (N,) ``values`` (ties: lower index first)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = np.where(np.isfinite(v), v, -np.inf)
    return np.argsort(-v, kind="stable")[: max(int(k), 0)].astype(np.int64)


def agreement(a: np.ndarray, b: np.ndarray, k: int) -> Agreement:
    """Agreement of two (N,) float maps at ``k`` (clipped to the number of patches finite in both).

    Raises
    ------
    ValueError
        The maps have different lengths, or ``k < 1``.
    """
    from scipy.stats import spearmanr  # local: scipy only when used

    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"maps of different lengths ({x.size} and {y.size} patches)")
    if k < 1:
        raise ValueError("k must be at least 1")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    k = min(int(k), n)
    if n == 0:
        return Agreement(0, 0, 0, float("nan"), float("nan"), float("nan"))
    ta, tb = set(top_k(x, k).tolist()), set(top_k(y, k).tolist())
    inter = len(ta & tb)
    rho = float("nan")
    if n > 1 and np.ptp(x) > 0 and np.ptp(y) > 0:
        rho = float(spearmanr(x, y).statistic)
    return Agreement(k=k, n=n, overlap=inter, overlap_fraction=inter / k, jaccard=inter / len(ta | tb), spearman=rho)


def bimodality_coefficient(values: np.ndarray) -> float:
    """Sarle's bimodality coefficient of the finite values of (N,) ``values``.

    ``BC = (g² + 1) / (k + 3 (n − 1)² / ((n − 2)(n − 3)))`` with ``g`` the bias-corrected sample
    skewness and ``k`` the bias-corrected sample excess kurtosis (:mod:`scipy.stats`). A uniform
    distribution gives 5/9 ≈ 0.555; values above it suggest two modes (gates that are mostly 0 or
    1), below it one. NaN for fewer than 4 values or a constant map.
    """
    from scipy.stats import kurtosis, skew  # local: scipy only when used

    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 4 or np.ptp(x) == 0:
        return float("nan")
    g = float(skew(x, bias=False))
    k = float(kurtosis(x, fisher=True, bias=False))
    return (g * g + 1.0) / (k + 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
