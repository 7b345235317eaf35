"""Noisy-OR coverage, utility and exact marginals against naive product formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.evidence.coverage import (
    coverage,
    marginals,
    set_coverage,
    set_gains,
    utility,
    weighted_sum,
)


def _naive_cov(p, r):
    out = np.ones(r.shape[1])
    for i in range(r.shape[0]):
        out *= 1.0 - p[i] * r[i]
    return 1.0 - out


def _naive_marg(p, r, a):
    n, m = r.shape
    g = np.zeros((n, a.shape[0]))
    for i in range(n):
        prod = np.ones(m)
        for j in range(n):
            if j != i:
                prod *= 1.0 - p[j] * r[j]
        g[i] = (r[i] * prod) @ a.T
    return g


def test_coverage_matches_product(rng):
    p, r = rng.random(30), rng.random((30, 5))
    np.testing.assert_allclose(coverage(p, r), _naive_cov(p, r), rtol=1e-12, atol=1e-14)


def test_utility_per_class(rng):
    p, r, a = rng.random(20), rng.random((20, 4)), rng.random((3, 4))
    np.testing.assert_allclose(utility(p, r, a), a @ _naive_cov(p, r), rtol=1e-12)
    assert isinstance(utility(p, r, a[0]), float)


def test_marginals_match_leave_one_out_product(rng):
    p, r, a = rng.random(15), rng.random((15, 6)), rng.random((2, 6))
    np.testing.assert_allclose(marginals(p, r, a), _naive_marg(p, r, a), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(marginals(p, r, a[1]), _naive_marg(p, r, a)[:, 1], rtol=1e-10, atol=1e-14)


def test_marginals_match_finite_differences(rng):
    p, r, a = rng.random(10), rng.random((10, 3)), rng.random(3)
    eps = 1e-6
    for i in range(10):
        hi, lo = p.copy(), p.copy()
        hi[i] += eps
        lo[i] -= eps
        fd = (utility(hi, r, a) - utility(lo, r, a)) / (2 * eps)
        assert marginals(p, r, a)[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_marginal_stable_where_gate_times_response_is_one(rng):
    # the divide-out trick Π/(1 − π r) fails here; ours must give the leave-one-out product
    r = rng.random((6, 3)) * 0.5
    r[2, 1] = 1.0
    p = rng.random(6)
    p[2] = 1.0
    got = marginals(p, r, np.ones(3))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, _naive_marg(p, r, np.ones((1, 3)))[:, 0], rtol=1e-5, atol=1e-6)
    # every other patch's marginal for anchor 1 is (nearly) zero: anchor 1 is already covered by patch 2
    assert coverage(p, r)[1] == pytest.approx(1.0, abs=1e-6)


def test_set_gains_equal_discrete_utility_difference(rng):
    r, a = rng.random((25, 4)), rng.random(4)
    s = np.array([3, 7, 11])
    ind = np.zeros(25)
    ind[s] = 1
    base = utility(ind, r, a)
    gains = set_gains(s, r, a)
    for i in range(25):
        if i in s:
            assert gains[i] == 0.0
            continue
        j = ind.copy()
        j[i] = 1
        assert gains[i] == pytest.approx(utility(j, r, a) - base, rel=1e-9, abs=1e-14)
    # and the continuous marginal at the hard set equals the discrete gain for i ∉ S
    np.testing.assert_allclose(marginals(ind, r, a)[gains > 0], gains[gains > 0], rtol=1e-9)
    np.testing.assert_allclose(set_coverage(s, r), _naive_cov(ind, r), rtol=1e-12)


def test_weighted_sum_rowwise_identical_in_any_batch(rng):
    r, w = rng.random((1000, 8)), rng.random(8)
    full = weighted_sum(r, w)
    idx = rng.choice(1000, 37, replace=False)
    assert np.array_equal(weighted_sum(r[idx], w), full[idx])
    np.testing.assert_allclose(full, r @ w, rtol=1e-12)


def test_shape_errors(rng):
    with pytest.raises(ValueError):
        coverage(rng.random(3), rng.random((4, 2)))
    with pytest.raises(ValueError):
        utility(rng.random(4), rng.random((4, 2)), rng.random(3))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.integers(1, 5))
def test_set_utility_monotone_submodular(seed, n, m):
    rng = np.random.default_rng(seed)
    r, a = rng.random((n, m)), rng.random(m)
    small = rng.random(n) < 0.3
    big = small | (rng.random(n) < 0.3)
    i = int(rng.integers(n))
    if big[i]:
        return
    f = lambda mask: utility(mask.astype(float), r, a)
    assert f(big) >= f(small) - 1e-12  # monotone
    add = np.zeros(n, dtype=bool)
    add[i] = True
    gain_small = f(small | add) - f(small)
    gain_big = f(big | add) - f(big)
    assert gain_small >= gain_big - 1e-12  # diminishing returns
