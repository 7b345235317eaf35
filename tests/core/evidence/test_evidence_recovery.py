"""Threshold-plus-repair recovery: exact greedy steps, stop reasons, cap, agreement with the naive greedy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.evidence.coverage import set_coverage, utility
from core.evidence.recovery import STOP_REASONS, recover, recover_naive


def _brute_force_next(s, r, a):
    """The patch whose addition raises the utility most (lowest index on ties), by brute force."""
    ind = np.zeros(r.shape[0])
    ind[s] = 1
    base = utility(ind, r, a)
    best, arg = -np.inf, None
    for i in range(r.shape[0]):
        if ind[i]:
            continue
        j = ind.copy()
        j[i] = 1
        gain = utility(j, r, a) - base
        if gain > best + 1e-13:
            best, arg = gain, i
    return arg, best


def test_threshold_set_first_then_exact_argmax_gains(rng):
    n, m = 40, 4
    r = rng.random((n, m)) * 0.3
    a = rng.random(m) + 0.1
    p = rng.random(n) * 0.6
    rec = recover(p, r, a, coverage_target=0.99, max_size=n)
    thr = np.flatnonzero(p > 0.5)
    assert rec.n_threshold == thr.size
    assert np.array_equal(rec.indices[: thr.size], thr)
    for k in range(thr.size, rec.indices.size):
        arg, _ = _brute_force_next(rec.indices[:k], r, a)
        assert rec.indices[k] == arg
    np.testing.assert_allclose(rec.coverage, set_coverage(rec.indices, r), rtol=1e-12)
    assert rec.stop_reason == "target_met"
    assert np.all(rec.coverage >= 0.99)
    # minimal in the greedy sense: the subset without its last repair misses the target
    assert np.min(set_coverage(rec.indices[:-1], r)) < 0.99


def test_empty_threshold_set_starts_from_argmax(rng):
    p = rng.random(20) * 0.4
    r = rng.random((20, 3))
    rec = recover(p, r, np.ones(3))
    assert rec.indices[0] == int(np.argmax(p))
    assert rec.n_threshold == 1


def test_target_met_by_threshold_alone(rng):
    r = rng.random((10, 2)) * 0.1
    r[0] = 0.999
    p = np.zeros(10)
    p[0] = 0.9
    rec = recover(p, r, np.ones(2), coverage_target=0.95)
    assert rec.stop_reason == "target_met"
    assert rec.indices.tolist() == [0]


def test_cap_never_exceeded(rng):
    n = 50
    r = rng.random((n, 3)) * 0.3
    p = rng.random(n) * 0.3
    rec = recover(p, r, np.ones(3), coverage_target=0.99, max_size=4)
    assert rec.unreachable.size == 0
    assert rec.stop_reason == "cap"
    assert rec.indices.size == 4
    default = recover(p, r, np.ones(3), coverage_target=0.995)
    assert default.indices.size == math.ceil(0.2 * n)
    assert default.stop_reason == "cap"


def test_no_gain_when_remaining_patches_add_nothing():
    r = np.zeros((6, 2))
    r[0] = [0.5, 0.5]
    p = np.array([0.9, 0, 0, 0, 0, 0])
    rec = recover(p, r, np.ones(2), coverage_target=0.4)
    assert rec.stop_reason == "target_met"
    # an anchor with zero weight is unmet and nothing can gain utility for it
    r2 = np.array([[0.9, 0.0], [0.0, 0.9], [0.0, 0.9], [0.1, 0.0]])
    rec2 = recover(np.array([0.9, 0.0, 0.0, 0.0]), r2, np.array([1.0, 0.0]), coverage_target=0.95, max_size=4)
    assert rec2.stop_reason == "no_gain"


def test_unreachable_anchor_stops_instead_of_pulling_in_the_bag(rng):
    n = 200
    r = rng.random((n, 3)) * 0.3
    r[:, 2] = 1e-5  # anchor 2 can never reach 0.95 even with the whole bag
    p = rng.random(n) * 0.4
    rec = recover(p, r, np.ones(3), coverage_target=0.95)
    assert rec.stop_reason == "unreachable_anchor"
    assert rec.unreachable.tolist() == [2]
    assert rec.indices.size < math.ceil(0.2 * n)
    assert np.all(rec.coverage[:2] >= 0.95)
    naive = recover_naive(p, r, np.ones(3), coverage_target=0.95)
    assert np.array_equal(rec.indices, naive.indices) and naive.stop_reason == rec.stop_reason


def test_shortlist_restricts_candidates(rng):
    n = 300
    r, p = rng.random((n, 4)) * 0.2, rng.random(n) * 0.4
    rec = recover(p, r, np.ones(4), shortlist=10, shortlist_by="gate", coverage_target=0.999)
    allowed = set(np.argsort(-p, kind="stable")[:11].tolist())  # the start patch + 10 candidates
    assert set(rec.indices.tolist()) <= allowed
    assert rec.stop_reason in STOP_REASONS


def test_bad_shapes_raise(rng):
    with pytest.raises(ValueError):
        recover(rng.random(5), rng.random((4, 2)), np.ones(2))
    with pytest.raises(ValueError):
        recover(np.zeros(0), np.zeros((0, 2)), np.ones(2))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 100_000),
    st.integers(1, 300),
    st.integers(1, 8),
    st.sampled_from([0.5, 0.9, 0.999]),
    st.sampled_from([None, 3, 1000]),
)
def test_fast_equals_naive(seed, n, m, target, cap):
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.02, 0.3, 1.0])
    r = rng.random((n, m)) * scale
    if rng.random() < 0.3:
        r = np.round(r, 1)  # exact ties
    p = rng.random(n) * rng.choice([0.45, 1.0])
    a = rng.random(m) * (rng.random(m) < 0.8)
    fast = recover(p, r, a, coverage_target=target, max_size=cap)
    slow = recover_naive(p, r, a, coverage_target=target, max_size=cap)
    assert np.array_equal(fast.indices, slow.indices)
    assert fast.stop_reason == slow.stop_reason
    assert fast.stop_reason in STOP_REASONS
    np.testing.assert_allclose(fast.coverage, slow.coverage, rtol=1e-12, atol=1e-15)
    limit = math.ceil(0.2 * n) if cap is None else cap
    assert fast.indices.size <= max(limit, fast.n_threshold)
    assert len(set(fast.indices.tolist())) == fast.indices.size


def test_large_bag_fast_and_identical():
    from core.bench.evidence import make_case

    g, r, a = make_case(100_000, gate_rate=0.0)
    fast = recover(g, r, a)
    slow = recover_naive(g, r, a)
    assert np.array_equal(fast.indices, slow.indices)
