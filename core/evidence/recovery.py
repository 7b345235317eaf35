"""Discrete evidence recovery: threshold plus greedy repair (method.md §4, Algorithm 1).

::

    S ← {i : π_i > τ};  if S = ∅: S ← {argmax π}
    while min_m v_m(1_S) < c  (over reachable anchors, see below):
        stop "cap"     if |S| ≥ max_size
        gains ← r[¬S] @ (α ⊙ ρ)          # exact noisy-OR marginal of every candidate
        stop "no_gain" if max gain ≤ 1e-8
        S ← S ∪ {argmax gains}           # ties: the lowest patch index
    stop "target_met"

Decisions (method.md leaves them open):

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

The fast path (:func:`recover`) is exact: it computes every candidate's gain once, sorts the
candidates by that gain (an upper bound on every later gain, by submodularity), and each step
re-scores only a prefix of that order, doubling the prefix until its best fresh gain strictly
exceeds the largest bound outside it (bounds are rescaled by ``κ = max_m ρ_m(now)/ρ_m(then)``, since
``Σ_m r_im α_m ρ_m(now) ≤ κ Σ_m r_im α_m ρ_m(then)``). ``log ρ`` is updated incrementally (``log ρ += log1p(−r_i)``).
It returns the same subset as :func:`recover_naive`, which recomputes every product at every step.
The optional ``shortlist`` restricts the candidates to the top-L patches by gate or by initial
gain — an approximation, off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.evidence.coverage import CLAMP, weighted_sum

__all__ = ["STOP_REASONS", "Recovery", "recover", "recover_naive"]

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
    log1m = np.log1p(-np.minimum(r, CLAMP))  # (N, M)
    return p, r, a, init, cap, log1m


def _reachable(log1m: np.ndarray, target: float) -> np.ndarray:
    full = -np.expm1(log1m.sum(axis=0))  # (M,)
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
    return bool(np.all(v[reachable] >= target))


def recover(
    gates: np.ndarray,
    responses: np.ndarray,
    class_weights: np.ndarray,
    threshold: float = 0.5,
    coverage_target: float = 0.95,
    max_size: int | None = None,
    shortlist: int | None = None,
    shortlist_by: str = "gain",
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
        ``"gate"``) may be added by repair. Approximate; ``None`` (default) is exact.

    Returns
    -------
    Recovery
    """
    p, r, a, init, cap, log1m = _prepare(gates, responses, class_weights, threshold, max_size)
    reachable = _reachable(log1m, coverage_target)
    log_rho = log1m[init].sum(axis=0)  # (M,)
    chosen = list(init.tolist())
    if _met(log_rho, reachable, coverage_target):
        return _finish(chosen, log_rho, _done(reachable), len(init), reachable)
    if len(chosen) >= cap:
        return _finish(chosen, log_rho, "cap", len(init), reachable)
    n = p.shape[0]
    log_rho0 = log_rho.copy()
    dead = np.zeros(n, dtype=bool)  # (N,) patches that can no longer be added
    dead[init] = True
    bound = weighted_sum(r, a * np.exp(log_rho0))  # (N,) gains now: bounds on all later gains
    if shortlist is not None and shortlist < n - init.size:
        key = np.where(dead, -np.inf, bound if shortlist_by == "gain" else p)
        keep = np.zeros(n, dtype=bool)
        keep[np.argsort(-key, kind="stable")[: int(shortlist)]] = True
        dead |= ~keep
    bound[dead] = -np.inf
    sorter = _Sorter(bound, r)
    width = min(64, n)
    while True:
        if len(chosen) >= cap:
            return _finish(chosen, log_rho, "cap", len(init), reachable)
        w = a * np.exp(log_rho)
        # every weight shrank by at most kappa since the bounds were computed, so
        # gain_i(now) = Σ_m r_im w_m(now) ≤ kappa · bound_i (with a safety margin for rounding)
        kappa = float(np.exp(np.max(log_rho - log_rho0))) * (1.0 + 1e-9)
        while True:
            width = sorter.ensure(width)
            g = _weighted_sum_t(sorter.r_t, w, width)
            g[dead[sorter.order[:width]]] = -np.inf
            j = int(np.argmax(g))
            best = float(g[j])
            outside = kappa * sorter.max_outside(width)
            if best > outside or width >= n or max(best, outside) <= MIN_GAIN:
                break
            width = min(2 * width, n)
        if max(best, outside) <= MIN_GAIN:
            return _finish(chosen, log_rho, "no_gain", len(init), reachable)
        ties = np.flatnonzero(g == best)
        if ties.size > 1:  # the naive greedy's argmax takes the lowest patch index
            j = int(ties[np.argmin(sorter.order[ties])])
        i = int(sorter.order[j])
        dead[i] = True
        chosen.append(i)
        log_rho = log_rho + log1m[i]
        if _met(log_rho, reachable, coverage_target):
            return _finish(chosen, log_rho, _done(reachable), len(init), reachable)


class _Sorter:
    """Patch order for the prefix search.

    First ``order`` holds the top block of patches sorted by (−initial gain, index); every other
    patch's bound is ≤ ``rest_max``. When the prefix must grow past that block the bounds are not
    pruning well (gains shrink evenly), so the search switches to scanning every patch in index
    order (``order = arange(N)``, no sort at all). ``r_t`` (M, len(order)) holds the responses in
    order. Patches in S or off the shortlist carry a bound of −inf and are masked by the caller.
    """

    def __init__(self, bound: np.ndarray, r: np.ndarray, first: int = 2048) -> None:
        self.bound, self.r = bound, r
        n = bound.shape[0]
        k = min(first, n)
        if k < n:
            part = np.argpartition(-bound, k)
            top = part[:k]
            self.rest_max = float(bound[part[k]])
        else:
            top, self.rest_max = np.arange(n), -np.inf
        self.order = top[np.lexsort((top, -bound[top]))]
        self.r_t = np.ascontiguousarray(r[self.order].T)

    def ensure(self, width: int) -> int:
        """Return the prefix width to scan: ``width``, or every patch once past the top block."""
        if width <= self.order.size:
            return width
        n = self.bound.shape[0]
        self.order = np.arange(n)
        self.r_t = np.ascontiguousarray(self.r.T)
        self.rest_max = -np.inf
        return n

    def max_outside(self, width: int) -> float:
        """Largest initial gain among patches past the first ``width``."""
        if width < self.order.size:
            return float(self.bound[self.order[width]])
        return self.rest_max


def _weighted_sum_t(r_t: np.ndarray, w: np.ndarray, width: int) -> np.ndarray:
    """:func:`weighted_sum` of the first ``width`` columns of (M, K) ``r_t``: same arithmetic, (width,)."""
    out = r_t[0, :width] * w[0]
    for m in range(1, r_t.shape[0]):
        out = out + r_t[m, :width] * w[m]
    return out


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
        log_rho = log1m[np.asarray(chosen)].sum(axis=0)
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
