"""The attention-failure benchmark: the scenarios' truth, a hand-built model on which attention top-k
is poor evidence and the search is not, and the report table (tiny settings)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics.evidence_search import search_subset
from core.diagnostics.evidence_sets import evidence_sets
from core.diagnostics.interventions import InterventionEngine
from core.models.base import HostConfig
from core.models.registry import build_host
from core.train.attention_failure_bench import BenchSetting, evaluate_bag, run_setting, summarise_held_out_fold
from core.train.attention_failure_data import (
    ARTEFACT,
    SCENARIOS,
    ScenarioBag,
    artefact_scores,
    bag_label,
    make_scenario,
)
from core.train.attention_failure_report import markdown_report
from core.train.gce_benchmark import Bag


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_labels_and_truth_follow_the_rule(scenario):
    train, test = make_scenario(scenario, 30, seed=3)
    for variant in (train, test):
        assert sorted(sb.bag.label for sb in variant).count(1) == 15
        for sb in variant:
            b = sb.bag
            assert b.label == bag_label(scenario, b.instance_labels)
            needed = (3, 7) if scenario == "conjunctive" else (9,)
            expected = np.flatnonzero(np.isin(b.instance_labels, needed)) if b.label else np.zeros(0)
            assert np.array_equal(b.truth, expected)
            assert b.features.shape == (b.instance_labels.size, 64) and b.coords.shape == (b.instance_labels.size, 2)
    assert [sb.bag.fold for sb in train] == [sb.bag.fold for sb in test]


def test_redundant_evidence_each_instance_sufficient_alone():
    train, _ = make_scenario("redundant", 30, seed=1)
    for sb in train:
        t = sb.bag.instance_labels
        if not sb.bag.label:
            continue
        assert sb.bag.truth.size >= 3
        for i in sb.bag.truth:  # each 9 alone keeps the label; dropping any two 9s does not change it
            assert bag_label("redundant", t[[i]]) == 1
        assert bag_label("redundant", np.delete(t, sb.bag.truth[:2])) == 1
        assert bag_label("redundant", np.delete(t, sb.bag.truth)) == 0


def test_conjunctive_label_needs_both_types():
    train, _ = make_scenario("conjunctive", 60, seed=2)
    negatives = {frozenset(set(sb.bag.instance_labels.tolist()) & {3, 7}) for sb in train if not sb.bag.label}
    assert negatives == {frozenset({3}), frozenset({7}), frozenset()}  # only 3s, only 7s, neither
    for sb in train:
        if sb.bag.label:
            threes, sevens = sb.truth_groups
            t = sb.bag.instance_labels
            assert bag_label("conjunctive", t[threes]) == 0 and bag_label("conjunctive", t[sevens]) == 0
            assert bag_label("conjunctive", t[[threes[0], sevens[0]]]) == 1
            assert bag_label("conjunctive", np.delete(t, threes)) == 0


def test_shortcut_goes_with_the_label_only_in_training():
    train, test = make_scenario("shortcut", 60, seed=0)
    has_mark = lambda sb: bool((sb.bag.instance_labels == ARTEFACT).any())
    assert all(has_mark(sb) == bool(sb.bag.label) for sb in train)
    assert not any(sb.shortcut for sb in train)
    agree = [has_mark(sb) == bool(sb.bag.label) for sb in test]
    assert 0.2 < 1 - np.mean(agree) < 0.8  # independent of the label in testing
    assert [sb.shortcut for sb in test] == [not a for a in agree]
    for sb in test:  # pen marks are artifact (score > 0.5), real digits never are
        scores = artefact_scores(sb.bag.features)
        marks = sb.bag.instance_labels == ARTEFACT
        assert (scores[marks] > 0.5).all() and (scores[~marks] < 0.5).all()


def _hand_built_abmil(evidence_types=(9,)) -> torch.nn.Module:
    """ABMIL on one-hot instance types (D = H = 11): attention logit 8 on evidence types, 0 elsewhere;
    class-1 logit 10 · (pooled share of evidence types) − 5: positive iff the bag holds evidence."""
    host = build_host("abmil", HostConfig(in_dim=11, n_outputs=2, hidden=11, attn_hidden=1))
    ev = torch.zeros(11)
    ev[list(evidence_types)] = 1.0
    with torch.no_grad():
        for p in host.parameters():
            p.zero_()
        host.fc[0].weight.copy_(torch.eye(11))
        host.attention.v[0].bias.fill_(10.0)  # tanh -> 1
        host.attention.u[0].weight.copy_(20 * ev[None])
        host.attention.u[0].bias.fill_(-10.0)  # sigmoid -> 1 on evidence, 0 elsewhere
        host.attention.w.weight.fill_(8.0)
        host.classifier.weight[1].copy_(10 * ev)
        host.classifier.bias[1] = -5.0
    return host.eval()


def _one_hot(sb: ScenarioBag) -> ScenarioBag:
    b = sb.bag
    x = np.eye(11, dtype=np.float32)[b.instance_labels]
    return ScenarioBag(Bag(b.slide_id, x, b.coords, b.label, b.truth, b.fold, b.instance_labels), sb.truth_groups, sb.shortcut)


def test_hand_built_model_attention_topk_is_poor_evidence_and_search_finds_the_truth():
    from core.explain.registry import build_explainer

    host = _hand_built_abmil()
    bags = [_one_hot(sb) for sb in make_scenario("redundant", 20, seed=4)[0]]
    explainers = {m: build_explainer(m, host) for m in ("attention", "single", "leave_one_out")}
    rows = []
    for sb in bags:
        eng = InterventionEngine(host, sb.bag.features, sb.bag.coords)
        assert eng.predicted == sb.bag.label  # the hand-built model is right on every bag
        rows.append(evaluate_bag(host, sb, explainers))
        if sb.bag.label:
            guide = explainers["attention"].attribute(sb.bag.features, sb.bag.coords)
            sn = search_subset(eng, guide)
            assert sn.found and np.array_equal(sn.indices, sb.bag.truth)  # every 9 is needed to flip the bag
            assert len(evidence_sets(eng, guide).sets) == sb.bag.truth.size  # one set per 9: each sufficient alone
    m = summarise_held_out_fold(rows)
    assert m["accuracy"] == 1.0
    assert m["attention/complement_degradation"] == 0.0  # removing top-5% (1–2 of ≥ 3 nines) changes nothing
    assert m["attention/precision"] == 1.0 and m["attention/recall"] < 0.7
    assert m["found/search_sn/precision"] == 1.0 and m["found/search_sn/recall"] == 1.0
    assert m["found/search_sn/complement_degradation"] == 1.0  # every found (positive) bag flips
    assert m["found/attention/complement_degradation"] == 0.0
    assert m["sn_found"] == 1.0 and m["n_sets"] >= 3
    assert abs(m["chance/precision"] - np.mean([sb.bag.truth.size / sb.bag.features.shape[0] for sb in bags if sb.bag.label])) < 1e-12


def test_report_table_from_a_tiny_run():
    rec = run_setting(BenchSetting(scenario="shortcut", host="abmil", gce=True, anchors="exemplars", options="options", seed=0),
                      n_bags=12, n_folds=2, epochs=1, min_size=10, max_size=14, log=lambda *_: None)
    assert [f["fold"] for f in rec["folds"]] == [0, 1]
    for f in rec["folds"]:
        assert 0.0 <= f["accuracy"] <= 1.0 and f["shortcut/n"] + f["other/n"] == 6
        for rule in ("attention", "gce_gate", "gce", "ig", "single", "leave_one_out", "lrp", "random"):
            assert 0.0 <= f[f"{rule}/precision"] <= 1.0
            assert np.isfinite(f[f"{rule}/keep_only_drop"])
        assert np.isfinite(f["gce/cd_gap"])
        assert f["marked/n"] + f["unmarked/n"] == 6 and 0.0 <= f["marked/flag/artifact_evidence_sn"] <= 1.0
    text = markdown_report([rec])
    assert "### shortcut: every rule" in text and "| abmil | + GCE (exemplars, options) | leave_one_out |" in text
    assert "### Shortcut: accuracy and failure flags" in text and "artifact_evidence_sn (marked / unmarked)" in text
    assert "redundant" not in text  # no goal tables without redundant records


def test_cd_gap_goal_counts_settings_met_among_those_run():
    def rec(seed, anchors, options, gap):
        s = {"scenario": "redundant", "host": "abmil", "gce": True, "anchors": anchors, "options": options, "seed": seed}
        return {"setting": s, "folds": [{"gce/cd_gap": gap - 0.002}, {"gce/cd_gap": gap + 0.002}], "n_bags": 60,
                "bag_size": [16, 32], "n_folds": 2, "epochs": 20, "lr": 1e-3, "seconds": 1.0}

    text = markdown_report([rec(0, "exemplars", "options", 0.008), rec(0, "exemplars", "defaults", 0.2),
                            rec(1, "exemplars", "options", 0.03)])
    assert "| 0 | abmil | exemplars | 0.200 | **0.008** |" in text
    assert "| 1 | abmil | exemplars | not run | 0.030 |" in text
    assert "spec defaults 0 of 1 run, options 1 of 2 run" in text
