"""S/N/R, same-budget rules, curves, minimal subsets, stability, failures, localisation, cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics.cost import cost_modes
from core.diagnostics.curves import (
    perturbation_curve,
    slide_curves,
    step_counts,
    summarise_curves,
)
from core.diagnostics.failures import (
    FailureThresholds,
    classify_failures,
    count_failures,
)
from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.localisation import coverage_precision, dice, froc, relevance_mass
from core.diagnostics.minimal_subsets import minimal_subsets, summarise_minimal
from core.diagnostics.snr import cohort_table, same_budget, slide_snr
from core.diagnostics.stability import jaccard, stability
from testkit.explain import abmil, bag, gce, mixer


def test_slide_snr_matches_engine_and_skips_empty_complement():
    model = abmil()
    x, c = bag(20)
    eng = InterventionEngine(model, x, c)
    r = slide_snr(eng, [0, 1, 2])
    assert r.keep_only_drop == pytest.approx(eng.phi_before - eng.keep_only([0, 1, 2]).phi_after)
    assert r.complement_degradation == pytest.approx(eng.phi_before - eng.remove([0, 1, 2]).phi_after, abs=1e-6)
    assert np.isnan(r.cd_gap) and r.fraction == pytest.approx(0.15)
    whole = slide_snr(eng, np.arange(20))
    assert np.isnan(whole.complement_degradation) and whole.comp is None and whole.keep_only_drop == pytest.approx(0, abs=1e-6)


def test_same_budget_rules_and_cohort_table():
    model = gce(abmil())
    per_slide, labels = [], []
    for s in range(4):
        x, c = bag(40, seed=s)
        res = same_budget(model, x, c, fraction=0.05)
        assert set(res) == {"random", "attention", "gradient", "ig", "single", "lrp", "gce"}
        assert res["attention"].fraction == pytest.approx(2 / 40)
        assert np.isfinite(res["gce"].cd_gap)
        per_slide.append(res)
        labels.append(int(np.argmax(res["random"].full)))
    table = cohort_table(per_slide, "classification", labels=labels)
    assert table["random"]["metric_full"] == 1.0 and table["lrp"]["n_slides"] == 4
    # a bare cross-patch host: LRP unsupported -> left out, the others stay
    res = same_budget(mixer(), *bag(30), rules=("random", "lrp", "single"))
    assert set(res) == {"random", "single"}


def test_curves_follow_the_protocol():
    model = abmil()
    x, c = bag(50)
    eng = InterventionEngine(model, x, c)
    assert list(step_counts(50)[:3]) == [0, 0, 1] and step_counts(50)[-1] == 50 and step_counts(50).size == 101
    rng = np.random.default_rng(0)
    s = rng.standard_normal(50)
    drop = perturbation_curve(eng, s, mode="drop")
    ins = perturbation_curve(eng, s, mode="insert")
    assert drop.shape == ins.shape == (101,)
    assert drop[0] == pytest.approx(eng.phi_before)
    empty = eng._probs(eng.empty_output()[None])[0, eng.predicted]
    assert drop[-1] == pytest.approx(empty) and ins[0] == pytest.approx(empty) and ins[-1] == pytest.approx(eng.phi_before)
    order = np.argsort(-s, kind="stable")
    k = step_counts(50)[37]
    assert drop[37] == pytest.approx(eng.remove(order[:k]).probs_after[eng.predicted])
    # leave-one-out scores drop faster than their reverse
    from core.explain.registry import build_explainer

    loo = build_explainer("loo", model).attribute(x, c)
    res = slide_curves(eng, {"loo": loo, "anti": -loo, "random": s})
    assert res["loo"]["aupc_drop"] < res["anti"]["aupc_drop"]
    assert res["loo"]["gain"] == pytest.approx(res["loo"]["aupc_insert"] - res["loo"]["aupc_drop"])
    table = summarise_curves([res, slide_curves(eng, {"loo": loo, "random": -s}), slide_curves(eng, {"loo": loo, "random": s[::-1].copy()})])
    assert table["loo"]["n"] == 3 and "p_drop_vs_random" in table["loo"] and "p_drop_vs_random" not in table["random"]


def test_minimal_subsets_are_disjoint_and_sufficient():
    model = abmil(seed=1)
    x, c = bag(60, seed=2)
    eng = InterventionEngine(model, x, c)
    for policy in ("prefix", "attention", "random"):
        r = minimal_subsets(eng, 8, policy)
        allidx = np.concatenate(r["subsets"]) if r["subsets"] else np.zeros(0, int)
        assert allidx.size == np.unique(allidx).size
        for sub in r["subsets"]:
            assert sub.size <= 8
            after = eng.keep_only(sub)
            assert eng.phi_before - after.phi_after <= 0.05 + 1e-9 and int(np.argmax(after.probs_after)) == eng.predicted
        assert len(r["remove_union"]) == r["n_subsets"]
    same = InterventionEngine(model, np.repeat(x[:1], 20, axis=0), c[:20])  # any one patch is the whole story
    counts = {p: minimal_subsets(same, 8, p)["n_subsets"] for p in ("prefix", "attention", "random")}
    assert counts == {"prefix": 20, "attention": 3, "random": 3}
    r = minimal_subsets(same, 8, "prefix")
    assert r["first_drop"] == pytest.approx(0, abs=1e-6) and r["remove_union"][0] == pytest.approx(0, abs=1e-6)
    assert r["remove_union"][-1] == pytest.approx(same.phi_before - same._phi(same.empty_output()[None])[0])
    summary = summarise_minimal([r, {"n_subsets": 0, "first_drop": float("nan"), "remove_union": []}])
    assert summary["pct_ge2"] in (0.0, 50.0) and summary["slides"] == 2


def test_stability_and_failures():
    assert jaccard([1, 2, 3], [2, 3, 4]) == pytest.approx(0.5) and jaccard([], []) == 1.0
    st = stability([[np.array([1, 2]), np.array([5])], [np.array([1, 2]), np.array([6])]], [np.array([0, 1]), np.array([0, 0])])
    assert st["jaccard_mean"] == pytest.approx(0.5) and st["flip_rate"] == pytest.approx(0.5) and st["unstable_slides"] == 0.5
    f = classify_failures(correct=False, keep_only_drop=0.3, complement_degradation=0.2, evidence=[0, 1],
                          artifact_scores=np.array([0.9, 0.8, 0.0]), responses=np.array([[0.9, 0.1], [0.8, 0.2], [0, 1]]),
                          class_weights=np.array([0.1, 2.0]), thresholds=FailureThresholds(top_anchors=1))
    assert f["case_failure"] and f["artifact_evidence"] and f["low_sufficiency"] and not f["low_necessity"]
    assert f["semantic_mismatch"] and f["severe"]
    ok = classify_failures(correct=True, keep_only_drop=0.0, complement_degradation=0.5)
    assert not any(ok.values())
    assert count_failures([f, ok])["severe"] == 1


def test_localisation_metrics_with_chance_levels():
    coords = np.array([[x * 256, y * 256] for y in range(4) for x in range(4)])
    truth = np.zeros(16, bool)
    truth[[0, 1, 4, 5]] = True  # one lesion top-left
    truth[15] = True  # another bottom-right
    scores = np.zeros(16)
    scores[[0, 1, 4]] = 1.0
    scores[10] = 0.8  # a false positive component
    d = dice(scores, truth, 0.5)
    assert d["dice"] == pytest.approx(2 * 3 / (4 + 5)) and 0 < d["dice_chance"] < d["dice"]
    cp = coverage_precision(scores, truth, top_fraction=3 / 16)
    assert cp["coverage"] == pytest.approx(3 / 5) and cp["precision"] == 1.0 and cp["precision_chance"] == pytest.approx(5 / 16)
    assert relevance_mass(scores, truth)["relevance_mass"] == pytest.approx(3 / 3.8)
    fr = froc([(scores, truth, coords, 256)], threshold=0.5)
    assert fr["sensitivity_at"][0.125] == pytest.approx(0.5)  # lesion 1 found before the first FP
    assert fr["sensitivity_at"][1.0] == pytest.approx(0.5)  # lesion 2 never found


def test_cost_modes_report_ratios():
    model = gce(abmil())
    x, c = bag(400)
    res = cost_modes(model, torch.from_numpy(x), torch.from_numpy(c).float(), repeats=2)
    assert set(res) == {"full", "soft", "discrete"}
    assert res["full"]["time_ratio"] == 1.0 and res["soft"]["ms"] > 0 and res["discrete"]["bytes"] <= res["soft"]["bytes"]


def test_slide_and_cohort_localisation_hand_computed():
    from core.diagnostics.localisation_audit import minmax, slide_localisation, summarise_localisation

    coords = np.array([[x * 10, 0] for x in range(10)])
    truth = np.zeros(10, bool)
    truth[[0, 1]] = True
    good = np.array([9.0, 8, 1, 1, 1, 1, 1, 1, 1, 1])  # min-max: 1, 0.875, 0, ...
    flat = np.ones(10)
    assert minmax(good)[:2].tolist() == [1.0, 0.875] and minmax(flat).max() == 0.0
    r = slide_localisation({"good": good, "flat": flat}, truth, top_fraction=0.2)
    assert r["good"]["coverage"] == 1.0 and r["good"]["precision"] == 1.0
    assert r["good"]["relevance_mass"] == pytest.approx(17 / 25) and r["good"]["dice"] == 1.0
    assert r["flat"]["dice"] == 0.0 and r["flat"]["relevance_mass"] == pytest.approx(0.2)
    s = summarise_localisation([r, r], {"good": [(good, truth, coords, 10)] * 2}, threshold=0.5, top_fraction=0.2)
    assert s["n_slides"] == 2 and s["methods"]["good"]["coverage"] == 1.0
    assert s["methods"]["good"]["froc"] == 1.0  # the lesion is the first candidate, no false positive
