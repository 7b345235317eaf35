"""Discrete evidence recovery: threshold plus greedy repair (docs/method.md §4, Algorithm 1).

::

    S ← {i : π_i > τ};  if S = ∅: S ← {argmax π}
    while min_m v_m(1_S) < c  (over reachable anchors, see below):
        stop "cap"     if |S| ≥ max_size
        gains ← r[¬S] @ (α ⊙ ρ)          # exact noisy-OR marginal of every candidate
        stop "no_gain" if max gain ≤ 1e-8
        S ← S ∪ {argmax gains}           # ties: the lowest patch index
    stop "target_met"

Decisions (docs/method.md leaves them open):

* **Unreachable anchors** — the most coverage anchor ``m`` can ever reach is its full-bag coverage
  ``1 − Π_i (1 − r_im)``; it does not depend on S. An anchor whose full-bag coverage is below ``c``
  can never meet the target, so it is left out of the stopping test (it still contributes to the
  gains, through ``α ⊙ ρ``, while other anchors are unmet). Repair never pulls patches in for an
  anchor that cannot be satisfied: when every *reachable* anchor is met the repair stops with
  ``"unreachable_anchor"`` if some anchor was unreachable, else ``"target_met"``. Unreachable
  anchors are listed in :attr:`Recovery.unreachable`.
* **Cap** — ``max_size`` defaults to ``ceil(0.2 N)``. The threshold set is never trimmed: if it
  already exceeds the cap, it is returned as is with ``"cap"`` (when the target is unmet).
* **Order of tests** — the cap is tested before gains are computed.

The fast path (:func:`recover`) is exact: it returns the same subset, in the same order, with the
same stop reason as :func:`recover_naive`, which recomputes ``log ρ`` from every member and every
candidate's gain at every step. Each step asks :class:`core.evidence.lazy_argmax.LazyArgmax` for the
best candidate: gains only shrink as S grows (submodularity), so it re-scores a *hot set* of
candidates whose gains were near the top (O(hot·M) per step) and re-bounds all N patches with one
matrix–vector product only when the best gain has fallen below the hot set's level; ties go to the
lowest patch index, as in the naive greedy's ``argmax``. ``log ρ`` is updated incrementally
(``log ρ += log1p(−r_i)``); the naive greedy sums the same rows in the same order
(:func:`_sum_rows`), so both see bit-for-bit the same weights. Inputs on which gains could grow
(negative or non-finite responses or weights) fall back to scoring every patch at every step.
The optional ``shortlist`` restricts the candidates to the top-L patches by gate or by initial
gain — an approximation, off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.choices import check_choice
from core.evidence.coverage import CLAMP, weighted_sum
from core.evidence.lazy_argmax import LazyArgmax

__all__ = ["STOP_REASONS", "Recovery", "ShortlistBy", "recover", "recover_naive"]

#: How :func:`recover`'s optional shortlist ranks candidates: initial coverage gain or gate π.
ShortlistBy = Literal["gain", "gate"]

STOP_REASONS = ("target_met", "no_gain", "cap", "unreachable_anchor")
MIN_GAIN = 1e-8


@dataclass(frozen=True, eq=False)
class Recovery:
    """The recovered evidence subset of one bag.

    Attributes
    ----------
    indices
        (K,) int64 patch indices: the threshold set in ascending order, then repairs in order of addition.
    coverage
        (M,) float64 noisy-OR coverage of the subset.
    stop_reason
        One of :data:`STOP_REASONS`.
    n_threshold
        How many of ``indices`` came from the threshold step (the rest were added by repair).
    unreachable
        (U,) int64 anchors whose full-bag coverage is below the target.
    """

    indices: np.ndarray
    coverage: np.ndarray
    stop_reason: str
    n_threshold: int = 0
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _prepare(gates, responses, class_weights, threshold, max_size):
    p = np.asarray(gates, dtype=np.float64).reshape(-1)
    r = np.asarray(responses, dtype=np.float64)
    a = np.asarray(class_weights, dtype=np.float64).reshape(-1)
    if r.ndim != 2 or r.shape[0] != p.shape[0] or r.shape[1] != a.shape[0]:
        raise ValueError(f"shapes disagree: gates {p.shape}, responses {r.shape}, class_weights {a.shape}")
    n = p.shape[0]
    if n == 0:
        raise ValueError("an empty bag has no evidence to recover")
    init = np.flatnonzero(p > threshold).astype(np.int64)
    if init.size == 0:
        init = np.array([int(np.argmax(p))], dtype=np.int64)
    cap = math.ceil(0.2 * n) if max_size is None else int(max_size)
    log1m = np.minimum(r, CLAMP)  # (N, M) log1p(−min(r, CLAMP)), computed in place
    np.negative(log1m, out=log1m)
    np.log1p(log1m, out=log1m)
    return p, r, a, init, cap, log1m


def _reachable(log1m: np.ndarray, target: float) -> np.ndarray:
    full = -np.expm1(np.einsum("ij->j", log1m))  # (M,); einsum: 4x faster than sum(axis=0) here
    return full >= target


def _finish(indices, log_rho, reason, n_init, reachable) -> Recovery:
    return Recovery(
        indices=np.asarray(indices, dtype=np.int64),
        coverage=-np.expm1(log_rho),
        stop_reason=reason,
        n_threshold=n_init,
        unreachable=np.flatnonzero(~reachable).astype(np.int64),
    )


def _met(log_rho, reachable, target) -> bool:
    v = -np.expm1(log_rho)
    return bool((v[reachable] >= target).all())


def recover(
    gates: np.ndarray,
    responses: np.ndarray,
    class_weights: np.ndarray,
    threshold: float = 0.5,
    coverage_target: float = 0.95,
    max_size: int | None = None,
    shortlist: int | None = None,
    shortlist_by: ShortlistBy = "gain",
) -> Recovery:
    """Threshold the gates, then greedily repair coverage (exact, fast).

    Parameters
    ----------
    gates
        (N,) float gates π in [0, 1].
    responses
        (N, M) float anchor responses r in [0, 1].
    class_weights
        (M,) non-negative α_k of the predicted class (survival: the risk weight vector).
    threshold
        τ; the threshold set is ``{π > τ}``.
    coverage_target
        c; every reachable anchor must reach coverage ≥ c.
    max_size
        Cap on |S|; default ``ceil(0.2 N)``.
    shortlist
        If given, only the top-``shortlist`` patches outside the threshold set (by ``shortlist_by``: ``"gain"`` = initial gain,
        ``"gate"``) may be added by repair. Approximate; ``None`` (default) is exact. Any other
        ``shortlist_by`` raises ValueError.

    Returns
    -------
    Recovery
    """
    check_choice(shortlist_by, ShortlistBy, "shortlist_by")
    p, r, a, init, cap, log1m = _prepare(gates, responses, class_weights, threshold, max_size)
    reachable = _reachable(log1m, coverage_target)
    log_rho = _sum_rows(log1m, init)  # (M,)
    chosen = list(init.tolist())
    if _met(log_rho, reachable, coverage_target):
        return _finish(chosen, log_rho, _done(reachable), len(init), reachable)
    if len(chosen) >= cap:
        return _finish(chosen, log_rho, "cap", len(init), reachable)
    n = p.shape[0]
    dead = np.zeros(n, dtype=bool)  # (N,) patches that can never be added
    dead[init] = True
    w = a * np.exp(log_rho)
    if shortlist is not None and shortlist < n - init.size:
        key = np.where(dead, -np.inf, weighted_sum(r, w) if shortlist_by == "gain" else p)
        keep = np.zeros(n, dtype=bool)
        keep[np.argsort(-key, kind="stable")[: int(shortlist)]] = True
        dead |= ~keep
    # bounds from earlier steps hold only if gains never grow: r ≥ 0 and α ≥ 0, all finite
    lazy = bool(r.min() >= 0.0 and np.isfinite(r.max()) and a.min() >= 0.0 and np.isfinite(a.max()))
    search = LazyArgmax(r, dead) if lazy else _FullScan(r, dead)
    while True:
        if len(chosen) >= cap:
            return _finish(chosen, log_rho, "cap", len(init), reachable)
        i, gain = search.best(w, MIN_GAIN)
        if i < 0 or gain <= MIN_GAIN:
            return _finish(chosen, log_rho, "no_gain", len(init), reachable)
        search.remove(i)
        chosen.append(i)
        log_rho = log_rho + log1m[i]
        if _met(log_rho, reachable, coverage_target):
            return _finish(chosen, log_rho, _done(reachable), len(init), reachable)
        w = a * np.exp(log_rho)


class _FullScan:
    """Every live patch's gain at every step, as the naive greedy (for inputs where gains may grow)."""

    def __init__(self, responses: np.ndarray, dead: np.ndarray) -> None:
        self.r, self.dead = responses, dead.copy()

    def remove(self, i: int) -> None:
        self.dead[i] = True

    def best(self, weights: np.ndarray, floor: float) -> tuple[int, float]:
        g = weighted_sum(self.r, weights)
        g[self.dead] = -np.inf
        i = int(np.argmax(g))
        return i, float(g[i])


def _sum_rows(log1m: np.ndarray, idx) -> np.ndarray:
    """Σ of rows ``idx`` of (N, M) ``log1m`` in order, one row at a time: (M,) float64.

    The same sequence of additions as ``log ρ += log1m[i]`` row by row, so the naive greedy's
    recomputed ``log ρ`` is bit-for-bit the fast path's incremental one (``sum(axis=0)`` switches to
    pairwise summation when M = 1).
    """
    return np.cumsum(log1m[np.asarray(idx, dtype=np.int64)], axis=0)[-1]


def _done(reachable: np.ndarray) -> str:
    return "target_met" if bool(np.all(reachable)) else "unreachable_anchor"


def recover_naive(
    gates: np.ndarray,
    responses: np.ndarray,
    class_weights: np.ndarray,
    threshold: float = 0.5,
    coverage_target: float = 0.95,
    max_size: int | None = None,
) -> Recovery:
    """Reference greedy: recompute ρ from every member and every candidate's gain at every step.

    O(N·M·|S|) per step; for tests and the benchmark baseline. Same arguments as :func:`recover`.
    """
    _, r, a, init, cap, log1m = _prepare(gates, responses, class_weights, threshold, max_size)
    reachable = _reachable(log1m, coverage_target)
    chosen = list(init.tolist())
    while True:
        log_rho = _sum_rows(log1m, chosen)
        if _met(log_rho, reachable, coverage_target):
            return _finish(chosen, log_rho, _done(reachable), len(init), reachable)
        if len(chosen) >= cap:
            return _finish(chosen, log_rho, "cap", len(init), reachable)
        gains = weighted_sum(r, a * np.exp(log_rho))
        gains[np.asarray(chosen)] = -np.inf
        i = int(np.argmax(gains))
        if gains[i] <= MIN_GAIN:
            return _finish(chosen, log_rho, "no_gain", len(init), reachable)
        chosen.append(i)
