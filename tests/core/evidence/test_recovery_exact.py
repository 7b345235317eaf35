"""The fast repair is the naive greedy, exactly: property tests on adversarial instances, and the
lazy argmax engine against a full scan (ties, removals, re-levels, tiny gains, fallback inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.evidence.coverage import weighted_sum
from core.evidence.lazy_argmax import LazyArgmax, _gain
from core.evidence.recovery import MIN_GAIN, recover, recover_naive


def _same(fast, slow):
    assert np.array_equal(fast.indices, slow.indices)  # same patches, same order
    assert fast.stop_reason == slow.stop_reason
    assert fast.n_threshold == slow.n_threshold
    assert np.array_equal(fast.unreachable, slow.unreachable)
    assert np.array_equal(fast.coverage, slow.coverage)  # bit for bit: same rows summed in the same order


def _instance(seed: int, n: int, m: int):
    """Random responses with the awkward cases mixed in: exact ties, duplicate rows, zero rows and
    columns, saturated responses, zero weights, coarse or tiny scales."""
    rng = np.random.default_rng(seed)
    r = rng.random((n, m)) * rng.choice([0.02, 0.3, 1.0])
    if rng.random() < 0.4:
        r = np.round(r, int(rng.integers(1, 3)))  # many exact ties
    if rng.random() < 0.4 and n > 1:  # duplicate rows: equal gains at different indices
        src = rng.integers(0, n, size=n // 3 + 1)
        dst = rng.integers(0, n, size=src.size)
        r[dst] = r[src]
    if rng.random() < 0.3:
        r[rng.random(n) < 0.3] = 0.0  # patches with no response at all
    if rng.random() < 0.2:
        r[:, int(rng.integers(0, m))] = 0.0  # an anchor nothing responds to (unreachable)
    if rng.random() < 0.1:
        r[rng.random((n, m)) < 0.05] = 1.0  # saturated responses (clamped in log space)
    p = rng.random(n) * rng.choice([0.45, 0.55, 1.0])
    a = rng.random(m) * (rng.random(m) < 0.8)
    if rng.random() < 0.2:
        a = np.round(a * 4) / 4  # tied weights
    return p, r, a


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 400),
    st.integers(1, 8),
    st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999, 1.0]),
    st.sampled_from([None, 1, 2, 5, 40, 10_000]),
)
def test_fast_is_the_naive_greedy(seed, n, m, target, cap):
    p, r, a = _instance(seed, n, m)
    fast = recover(p, r, a, coverage_target=target, max_size=cap)
    slow = recover_naive(p, r, a, coverage_target=target, max_size=cap)
    _same(fast, slow)
    limit = math.ceil(0.2 * n) if cap is None else cap
    assert fast.indices.size <= max(limit, fast.n_threshold)
    assert len(set(fast.indices.tolist())) == fast.indices.size


@pytest.mark.parametrize("seed", range(3))
def test_long_repairs_identical_with_every_stop_reason(seed):
    """Hundreds of steps on flat responses (the case the lazy search exists for), under each stop."""
    rng = np.random.default_rng(seed)
    n = 3000
    r = rng.uniform(0.0, 0.02, size=(n, 8))
    r[::7] = r[1::7][: r[::7].shape[0]]  # duplicate rows
    p = rng.random(n) * 0.4
    a = rng.random(8) + 0.05
    reasons = set()
    for target, cap in [(0.999, None), (0.9999, 120), (0.99, None)]:
        fast = recover(p, r, a, coverage_target=target, max_size=cap)
        slow = recover_naive(p, r, a, coverage_target=target, max_size=cap)
        _same(fast, slow)
        reasons.add(fast.stop_reason)
    r2 = r.copy()
    r2[:, 3] = 1e-7  # anchor 3 can never be covered
    fast = recover(p, r2, a, coverage_target=0.99)
    _same(fast, recover_naive(p, r2, a, coverage_target=0.99))
    reasons.add(fast.stop_reason)
    assert reasons == {"target_met", "cap", "unreachable_anchor"}
    assert fast.unreachable.tolist() == [3]


def test_no_gain_stop_identical():
    rng = np.random.default_rng(5)
    r = np.zeros((500, 3))
    r[:40, 0] = rng.random(40) * 0.5
    r[40:60, 1] = 1e-12  # positive but below the 1e-8 gain floor
    r[100:, 2] = 0.9  # anchor 2 has zero weight: unmet, yet nothing gains for it
    a = np.array([1.0, 1.0, 0.0])
    p = np.zeros(500)
    fast = recover(p, r, a, coverage_target=0.9999, max_size=500)
    slow = recover_naive(p, r, a, coverage_target=0.9999, max_size=500)
    _same(fast, slow)
    assert fast.stop_reason == "no_gain"


@pytest.mark.parametrize("bad", ["negative", "nan", "negative_weight"])
def test_inputs_where_gains_may_grow_fall_back_to_full_scan(bad):
    rng = np.random.default_rng(11)
    r = rng.random((300, 4)) * 0.3
    a = rng.random(4) + 0.1
    if bad == "negative":
        r[rng.random((300, 4)) < 0.2] *= -1.0
    elif bad == "nan":
        r[17, 2] = np.nan
    else:
        a[1] = -0.5
    p = rng.random(300) * 0.4
    fast = recover(p, r, a, coverage_target=0.99)
    slow = recover_naive(p, r, a, coverage_target=0.99)
    assert np.array_equal(fast.indices, slow.indices)
    assert fast.stop_reason == slow.stop_reason


def _full_scan(r, w, dead):
    g = weighted_sum(r, w)
    g[dead] = -np.inf
    i = int(np.argmax(g))
    return i, float(g[i])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 300),
    st.integers(1, 8),
    st.sampled_from([1, 3, 16, 4096]),
    st.sampled_from([0.3, 0.9, 0.99]),
)
def test_lazy_argmax_matches_full_scan(seed, n, m, hot_size, shrink):
    """Shrinking weights, removals, ties, tiny hot sets (many re-levels and trims): every answer is the
    full scan's (index and gain bit for bit), or a no-gain answer only when every live gain ≤ floor."""
    _, r, _ = _instance(seed, n, m)
    rng = np.random.default_rng(seed + 1)
    dead = rng.random(n) < 0.1
    w = rng.random(m) + 0.01
    search = LazyArgmax(r, dead, hot_size=hot_size, shrink=shrink)
    dead = dead.copy()
    floor = 1e-8
    for _ in range(min(n, 60)):
        i, g = search.best(w, floor)
        j, h = _full_scan(r, w, dead)
        if h <= floor:
            assert i == -1 or (i == j and g == h)
        else:
            assert (i, g) == (j, h)
        if h == -np.inf:
            break
        dead[j] = True
        search.remove(j)
        w = w * rng.choice([1.0, 0.97, 0.5, 0.0], size=m, p=[0.4, 0.3, 0.25, 0.05])  # never grows


@pytest.mark.parametrize("w0", [[3e-300, 1e-300, 2e-300], [3e-310, 1e-300, 0.0], [1.0, 1e-310, 0.5]])
def test_lazy_argmax_tiny_gains_use_exact_scan(w0):
    """Gains near the subnormal range, where margins swamp the bounds, and subnormal weights (whose
    inverse overflows): still the exact argmax."""
    rng = np.random.default_rng(2)
    r = np.round(rng.random((200, 3)), 1)
    search = LazyArgmax(r, np.zeros(200, bool), hot_size=8)
    dead = np.zeros(200, bool)
    w = np.array(w0)
    for _ in range(30):
        i, g = search.best(w, 0.0)
        assert (i, g) == _full_scan(r, w, dead)
        dead[i] = True
        search.remove(i)
        w = w * np.array([0.9, 1.0, 0.5])


def test_lazy_argmax_no_live_patch():
    r = np.ones((4, 2))
    search = LazyArgmax(r, np.ones(4, bool))
    assert search.best(np.ones(2), MIN_GAIN) == (-1, -np.inf)
    with pytest.raises(ValueError):
        LazyArgmax(r, np.zeros(4, bool), shrink=1.0)


def test_single_row_gain_is_bitwise_weighted_sum():
    rng = np.random.default_rng(3)
    r = rng.random((2000, 8)) ** 4
    w = rng.random(8) * np.exp(-rng.random(8) * 700)  # down to subnormal weights
    expect = weighted_sum(r, w)
    assert all(_gain(r[i], w) == expect[i] for i in range(r.shape[0]))


def test_long_repair_rescans_rarely():
    """Flat responses, ~500 greedy steps: the search re-bounds all patches in only a fraction of the
    steps (the naive greedy scans every patch at every step), and picks the full scan's patch each time."""
    rng = np.random.default_rng(1)
    n = 20_000
    r = rng.uniform(0.0, 0.02, size=(n, 8))
    a = np.log1p(np.exp(rng.normal(0.0, 1.0, size=8)))
    dead = np.zeros(n, bool)
    search = LazyArgmax(r, dead)
    log_rho = np.zeros(8)
    steps = 0
    while np.min(-np.expm1(log_rho)) < 0.99:
        w = a * np.exp(log_rho)
        i, g = search.best(w, MIN_GAIN)
        if steps % 25 == 0:
            assert (i, g) == _full_scan(r, w, dead)
        dead[i] = True
        search.remove(i)
        log_rho = log_rho + np.log1p(-r[i])
        steps += 1
    assert steps > 200
    assert search.n_relevels < steps / 4
