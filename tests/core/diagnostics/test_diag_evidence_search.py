"""Sufficient-and-necessary search and evidence sets: known truth, independent checks, stop rules, fast == slow."""

from __future__ import annotations

import numpy as np
import pytest

from core.diagnostics.evidence_search import SearchConfig, search_subset
from core.diagnostics.evidence_sets import evidence_sets
from core.diagnostics.interventions import InterventionEngine
from testkit.explain import abmil, bag, gce, mixer
from testkit.search import forward_phi, known_bag, known_model


@pytest.fixture(scope="module")
def known():
    model = known_model()
    x, c, truth = known_bag()
    eng = InterventionEngine(model, x, c)
    guide = eng.keep_only(np.arange(eng.n)).attention_after  # (N,) attention on the full bag
    return model, x, c, truth, eng, guide


def _sufficient(model, x, c, s, eng, delta_s=0.05):
    phi, cls = forward_phi(model, x, c, s, eng.predicted)
    return cls == eng.predicted and phi >= eng.phi_before - delta_s


def _necessary(model, x, c, s, eng, delta_n=0.25):
    rest = np.setdiff1d(np.arange(eng.n), s)
    phi, cls = forward_phi(model, x, c, rest, eng.predicted)
    return cls != eng.predicted or eng.phi_before - phi >= delta_n


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
@pytest.mark.parametrize("path", ["cache", "forward"])
def test_finds_the_known_evidence_and_it_is_sufficient_necessary_and_minimal(known, strategy, path):
    model, x, c, truth, eng, guide = known
    assert eng.predicted == 1
    r = search_subset(eng, guide, SearchConfig(strategy=strategy, path=path))
    assert r.found and r.stop_reason == "found" and r.path == path
    np.testing.assert_array_equal(r.indices, truth)
    assert r.sufficient and r.necessary
    # independent real forwards: sufficient, necessary, and no member can be dropped
    assert _sufficient(model, x, c, r.indices, eng) and _necessary(model, x, c, r.indices, eng)
    for i in r.indices:
        assert not _necessary(model, x, c, np.setdiff1d(r.indices, [i]), eng)
    phi_keep, _ = forward_phi(model, x, c, r.indices, 1)
    assert r.phi_keep == pytest.approx(phi_keep, abs=1e-6)


def test_a_misleading_guide_still_ends_minimal_after_pruning(known):
    model, x, c, truth, eng, _ = known
    guide = np.zeros(eng.n)
    guide[truth] = 1.0
    guide[np.setdiff1d(np.arange(eng.n), truth)[:7]] = 2.0  # 7 background patches ranked above the evidence
    r = search_subset(eng, guide, SearchConfig())
    np.testing.assert_array_equal(r.indices, truth)
    raw = search_subset(eng, guide, SearchConfig(prune=False))
    assert raw.indices.size == truth.size + 7 and set(truth) <= set(raw.indices)


def test_evidence_sets_are_disjoint_each_sufficient_and_cover_the_evidence(known):
    model, x, c, truth, eng, guide = known
    res = evidence_sets(eng, guide, SearchConfig())
    assert res.stop_reason == "no_sufficient_subset" and len(res.sets) == truth.size
    seen: set[int] = set()
    for s in res.sets:
        assert not seen & set(s.indices.tolist())
        seen |= set(s.indices.tolist())
        assert _sufficient(model, x, c, s.indices, eng)
        assert s.keep_only_drop <= 0.05 and not s.necessary_alone
    assert seen == set(truth.tolist())
    # removing the union of all sets flips the class: the evidence is redundant, not absent
    assert res.sets[-1].phi_remove_union < 0.5
    assert res.sets[0].remove_union_degradation < res.sets[-1].remove_union_degradation


def test_stop_rules(known):
    _, _, _, truth, eng, guide = known
    res = evidence_sets(eng, guide, SearchConfig(k_max=2))
    assert res.stop_reason == "k_max" and len(res.sets) == 2
    small = search_subset(eng, guide, SearchConfig(max_size=truth.size - 1))
    assert not small.found and small.stop_reason == "size_limit" and small.indices.size == 0
    assert search_subset(eng, guide, SearchConfig(), pool=[]).stop_reason == "empty_pool"
    only_bg = np.setdiff1d(np.arange(eng.n), truth)
    none = search_subset(eng, guide, SearchConfig(), criterion="sufficient", pool=only_bg)
    assert not none.found  # background alone never keeps class 1
    with pytest.raises(ValueError, match="guide map has 3 values"):
        search_subset(eng, np.zeros(3))
    with pytest.raises(ValueError, match="delta_n"):
        SearchConfig(delta_n=0.0)


def test_gallop_scan_on_real_forwards_meets_the_criterion_with_few_forwards():
    x, c, truth = known_bag(n_background=200, n_evidence=40)
    eng = InterventionEngine(known_model(), x, c)
    guide = eng.keep_only(np.arange(eng.n)).attention_after
    r = search_subset(eng, guide, SearchConfig(path="forward", scan="gallop", prune=False))
    lin = search_subset(eng, guide, SearchConfig(path="forward", scan="linear", prune=False))
    np.testing.assert_array_equal(r.indices, lin.indices)
    np.testing.assert_array_equal(r.indices, truth)
    calls = 2 * int(np.ceil(np.log2(truth.size))) + 1  # doubling, then bisection
    assert r.n_evaluations <= 2 * calls + 2 < lin.n_evaluations  # keep + removal per call, + the final numbers


def _engines():
    x, c = bag(60, seed=3)
    return [("abmil", InterventionEngine(abmil(), x, c)), ("abmil_gce", InterventionEngine(gce(abmil()), x, c))]


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
@pytest.mark.parametrize("criterion", ["sufficient", "sufficient_necessary"])
def test_fast_cache_path_equals_real_forward_path(strategy, criterion):
    for name, eng in _engines():
        assert eng.fast, name
        for seed in range(3):
            guide = np.random.default_rng(seed).standard_normal(eng.n)
            cfg = dict(strategy=strategy, scan="linear", delta_n=0.05, max_fraction=1.0)
            fast = search_subset(eng, guide, SearchConfig(path="cache", **cfg), criterion=criterion)
            slow = search_subset(eng, guide, SearchConfig(path="forward", **cfg), criterion=criterion)
            assert fast.stop_reason == slow.stop_reason, (name, seed)
            np.testing.assert_array_equal(fast.indices, slow.indices)
            if fast.found:
                assert fast.phi_keep == pytest.approx(slow.phi_keep, abs=1e-6)
                assert fast.phi_remove == pytest.approx(slow.phi_remove, abs=1e-6)
        sets_fast = evidence_sets(eng, guide, SearchConfig(path="cache", scan="linear"))
        sets_slow = evidence_sets(eng, guide, SearchConfig(path="forward", scan="linear"))
        assert sets_fast.stop_reason == sets_slow.stop_reason and len(sets_fast.sets) == len(sets_slow.sets)
        for a, b in zip(sets_fast.sets, sets_slow.sets):
            np.testing.assert_array_equal(a.indices, b.indices)
            assert a.remove_union_degradation == pytest.approx(b.remove_union_degradation, abs=1e-6)


def test_cache_prefixes_equal_forwards_where_removal_holds_nearly_all_attention():
    """The removal of a set that holds > 1 − 1e-6 of the attention mass is recomputed, not cancelled."""
    from core.diagnostics.search_evaluators import CachedEvaluator, ForwardEvaluator

    model = known_model()
    x, c, truth = known_bag(n_background=3, n_evidence=4)
    eng = InterventionEngine(model, x, c)
    order = np.concatenate([truth, np.setdiff1d(np.arange(eng.n), truth)])
    k1, r1 = CachedEvaluator(eng).prefixes(order, 0, eng.n - 1)
    k2, r2 = ForwardEvaluator(eng).prefixes(order, 0, eng.n - 1)
    np.testing.assert_allclose(k1, k2, atol=1e-5)
    np.testing.assert_allclose(r1, r2, atol=1e-5)


def test_hosts_without_cache_use_forwards_and_the_cache_is_refused():
    x, c = bag(30, seed=1)
    eng = InterventionEngine(mixer(), x, c)
    guide = np.random.default_rng(0).standard_normal(eng.n)
    r = search_subset(eng, guide, SearchConfig(delta_n=0.05, max_fraction=1.0))
    assert r.path == "forward"
    if r.found:
        assert r.sufficient and r.necessary
    with pytest.raises(ValueError, match="no attention-pooling cache"):
        search_subset(eng, guide, SearchConfig(path="cache"))


def test_sets_continue_while_a_sufficient_subset_remains_even_if_the_rest_as_a_whole_is_not():
    """5 evidence patches among 5000 background: after two sets the rest, kept whole, is diluted below
    Φ(X) − δs, yet each remaining evidence patch alone is sufficient -- all 5 are found."""
    model = known_model()
    x, c, truth = known_bag(n_background=5000, n_evidence=5)
    eng = InterventionEngine(model, x, c)
    guide = eng.keep_only(np.arange(eng.n)).attention_after
    res = evidence_sets(eng, guide, SearchConfig())
    assert res.stop_reason == "no_sufficient_subset" and len(res.sets) == 5
    assert sorted(np.concatenate([s.indices for s in res.sets]).tolist()) == truth.tolist()
    rest = np.setdiff1d(np.arange(eng.n), np.concatenate([s.indices for s in res.sets[:2]]))
    assert not _sufficient(model, x, c, rest, eng)  # the whole rest would have stopped the search here
    assert all(_sufficient(model, x, c, s.indices, eng) for s in res.sets[2:])
