"""Exact argmax of shrinking linear gains, re-scoring only a hot set (the engine of the fast repair).

The greedy repair of :mod:`core.evidence.recovery` needs, at every step, the live patch with the
largest gain ``g_i = Σ_m r_im w_m`` (lowest index among equal gains), computed exactly as
:func:`core.evidence.coverage.weighted_sum` computes it, where the weights ``w_m = α_m ρ_m`` only ever
shrink. With ``r ≥ 0`` every gain then only shrinks too (submodularity), so a gain computed at an
earlier step bounds the gain now. :class:`LazyArgmax` keeps

* a ``level`` and a *hot set*: the live patches whose gain was ≥ ``level`` when the level was set;
  every other live patch had a gain below ``level`` then, hence has one below it now.

Each query scores only the hot set, exactly. If the best hot gain is above ``level`` (with a rounding
margin) no patch outside can match it, and that patch and gain are exactly the full scan's: the hot
set is kept in ascending patch order, so ``argmax`` returns the lowest index among equal gains, as
the full scan does. Since every weight has shrunk at least by ``κ = max_m w_m / w_m(then)`` since
the level was set, so has every gain outside the hot set, and ``κ · level`` is the sharper test (it
keeps the hot set valid for long when all anchors' weights decay together). Otherwise the query
*re-levels*: one BLAS matrix–vector product bounds every patch's gain (it is within a few ulps of the
exact sum, since all terms are ≥ 0; the margin :data:`SAFETY` covers that), the new level is
``shrink ×`` the largest bound (or higher, to keep about ``hot_size`` patches), and the hot set is
every live patch above it. A step costs O(hot · M); a re-level costs one O(N · M) product.
"""

from __future__ import annotations

import numpy as np

from core.evidence.coverage import weighted_sum

__all__ = ["SAFETY", "LazyArgmax"]

# Relative margin between a bound and the exact gains it bounds: BLAS sums of M non-negative
# terms are within M·2⁻⁵³ of the exact value, exp may be off by an ulp; 1e-9 covers both with room.
SAFETY = 1.0 + 1e-9
TINY = 1e-290  # absolute margin for subnormal products


class LazyArgmax:
    """Exact ``argmax_i Σ_m r_im w_m`` over live patches, for weights that never grow between queries.

    Parameters
    ----------
    responses
        (N, M) float64 responses, all finite and ≥ 0 (the caller checks: gains must shrink with w).
    dead
        (N,) bool, patches that may never be returned (already chosen, or off a shortlist).
    hot_size
        About how many patches a re-level keeps hot (a speed knob only; more when gains tie).
    shrink
        A re-level sets the level to at most ``shrink ×`` the largest gain bound, in (0, 1).
    """

    def __init__(self, responses: np.ndarray, dead: np.ndarray, hot_size: int = 4096, shrink: float = 0.9) -> None:
        if not 0.0 < shrink < 1.0:
            raise ValueError(f"shrink must lie in (0, 1), got {shrink}")
        self.r = np.ascontiguousarray(responses)  # (N, M); a copy only if strided (BLAS wants rows)
        self.dead = np.asarray(dead, dtype=bool).copy()  # (N,)
        self._dead_idx = np.flatnonzero(self.dead)  # (D,) int64, extended by remove() in batches
        self._removed: list[int] = []
        self.hot_size, self.shrink = int(hot_size), float(shrink)
        self.hot = np.zeros(0, np.int64)  # (H,) ascending patch indices
        self.hot_r = np.zeros((0, responses.shape[1]))  # (H, M) their responses, C order
        self.hot_pen = np.zeros(0)  # (H,) 0, or -inf once the patch is removed
        self.level = np.inf  # every live patch outside the hot set has a gain < level
        self.level_inv_w = np.zeros(responses.shape[1])  # (M,) 1 / the weights when the level was set (0 for 0)
        self.kappa_ok = False
        self.n_relevels = 0  # O(N·M) bound passes so far
        self.n_scored = 0  # exact gains computed so far

    def remove(self, i: int) -> None:
        """Mark patch ``i`` dead: it is never returned again."""
        if not self.dead[i]:
            self.dead[i] = True
            self._removed.append(int(i))
        pos = int(np.searchsorted(self.hot, i))
        if pos < self.hot.size and self.hot[pos] == i:
            self.hot_pen[pos] = -np.inf

    def best(self, weights: np.ndarray, floor: float) -> tuple[int, float]:
        """The live patch with the largest gain for ``weights`` (lowest index on ties) and that gain.

        ``weights`` (M,) float64 ≥ 0 must be elementwise ≤ those of every earlier query. When every
        live gain is ``≤ floor`` the answer may be ``(-1, g)`` with some ``g ≤ floor`` instead (no exact
        argmax is needed then); ``(-1, -inf)`` when no patch is live.

        Returns
        -------
        tuple[int, float]
            Patch index and its gain, bit-for-bit ``weighted_sum(responses, weights)[index]``.
        """
        if self.hot.size:
            j, top = self._score_hot(weights)
            if top >= self.level * SAFETY + TINY:  # every live patch outside: gain < level·SAFETY + TINY
                return int(self.hot[j]), top
            # every weight shrank at least by the factor kappa since the re-level, and so did every gain
            # outside the hot set: Σ_m r_im w_m ≤ kappa Σ_m r_im w_m(then) < kappa · level (a weight
            # that was 0 then is 0 now, since weights never grow)
            if self.kappa_ok:
                kappa = max((weights * self.level_inv_w).tolist())
                if top >= kappa * self.level * SAFETY + TINY:
                    return int(self.hot[j]), top
        self.n_relevels += 1
        bound = self.r @ weights  # (N,) float64, within a few ulps of every exact gain
        bound[self._dead()] = -np.inf
        high = float(np.max(bound)) if bound.size else -np.inf
        if not high * SAFETY + TINY > floor:  # every live gain ≤ floor (or no patch is live)
            return -1, high
        ceiling = high * (1.0 - 1e-6)  # ≤ the exact best gain / SAFETY², less TINY: it stays hot
        level = self.shrink * high
        hot = np.flatnonzero(bound >= level)  # ascending
        if hot.size > self.hot_size:
            k = hot.size - self.hot_size
            level = min(float(np.partition(bound[hot], k)[k]), ceiling)
            hot = hot[bound[hot] >= level]
        self.hot, self.level = hot, level
        with np.errstate(over="ignore"):
            self.level_inv_w = np.divide(1.0, weights, out=np.zeros_like(weights), where=weights > 0)
        self.kappa_ok = bool(np.isfinite(self.level_inv_w).all())  # 1/subnormal overflows: no kappa then
        self.hot_r = np.ascontiguousarray(self.r[hot])
        self.hot_pen = np.zeros(hot.size)
        j, top = self._score_hot(weights)
        if top >= level * SAFETY + TINY:
            return int(self.hot[j]), top
        # only when the gains are so small that the margins swamp them: scan every patch exactly
        g = weighted_sum(self.r, weights)
        g[self._dead()] = -np.inf
        i = int(np.argmax(g))
        self.level, self.kappa_ok = np.inf, False
        return i, float(g[i])

    def _dead(self) -> np.ndarray:
        """(D,) int64 every dead patch (for masking the bounds of a re-level)."""
        if self._removed:
            self._dead_idx = np.concatenate([self._dead_idx, np.asarray(self._removed, dtype=np.int64)])
            self._removed = []
        return self._dead_idx

    def _score_hot(self, weights: np.ndarray) -> tuple[int, float]:
        """Best hot position and its exact gain (lowest patch index on ties).

        A BLAS product bounds every hot gain to within a few ulps; only the hot patches whose
        product is within the margin of the largest can hold the exact maximum, and only those
        are scored exactly (usually one).
        """
        approx = self.hot_r @ weights + self.hot_pen  # (H,)
        high = float(approx[approx.argmax()])
        if not high > -np.inf:
            return 0, -np.inf
        near = np.flatnonzero(approx >= high / SAFETY**2 - 2 * TINY)  # ascending; always holds the argmax
        self.n_scored += near.size
        if near.size == 1:
            return int(near[0]), _gain(self.r[self.hot[near[0]]], weights)
        g = weighted_sum(self.r[self.hot[near]], weights)  # exact, (K,)
        k = int(np.argmax(g))
        return int(near[k]), float(g[k])


def _gain(row: np.ndarray, weights: np.ndarray) -> float:
    """``weighted_sum`` of one (M,) row in Python floats: the same IEEE-754 double operations in the
    same order (multiply, then add, rounding each), so bit-for-bit the numpy result, 10x faster."""
    x, w = row.tolist(), weights.tolist()
    g = x[0] * w[0]
    for m in range(1, len(w)):
        g = g + x[m] * w[m]
    return g
