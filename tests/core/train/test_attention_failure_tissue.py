"""Tissue bags of the attention-failure benchmark: the truth of each scenario, checked with a
hand-built model on the real ``stain_texture_v1`` features (a small bank: 10 windows per type,
2 symmetries, built once per module from the CMU-1 region)."""

from __future__ import annotations

import numpy as np
import pytest

from core.extract.encoders.builtin import FEATURES
from core.train.attention_failure_data import ARTEFACT, SCENARIOS
from core.train.attention_failure_tissue import (
    DERMIS,
    EPIDERMIS,
    SPARSE,
    make_artefact,
    make_tissue_scenario,
    tissue_bag_label,
    tissue_bank,
)

SIZE = {"min_size": 16, "max_size": 20}


@pytest.fixture(scope="module")
def bank(tmp_path_factory, cmu_slide):
    return tissue_bank(tmp_path_factory.mktemp("bank"), source=cmu_slide, symmetries=2, max_windows=10, n_artefacts=4)


def hand_types(features: np.ndarray) -> np.ndarray:
    """A hand-built instance model on two real features: haematoxylin-rich = epidermis, else
    much glass = loose tissue, else dermis (thresholds from the bank's ranges, docs/results_explain.md §9b)."""
    h = features[:, FEATURES.index("h_mean")]
    glass = features[:, FEATURES.index("background_fraction")]
    return np.where(h > 0.3, EPIDERMIS, np.where(glass > 0.25, SPARSE, DERMIS))


def hand_label(scenario: str, features: np.ndarray) -> int:
    return tissue_bag_label(scenario, hand_types(features))


def test_bank_types_are_real_and_separable(bank):
    tissue = bank.types != ARTEFACT
    assert set(np.unique(bank.types).tolist()) == {DERMIS, EPIDERMIS, SPARSE, ARTEFACT}
    assert np.array_equal(hand_types(bank.features[tissue]), bank.types[tissue])  # the features carry the truth
    assert bank.features.shape == (bank.types.size, len(FEATURES)) and np.all(np.isfinite(bank.features))
    assert np.all((bank.artifact_scores >= 0) & (bank.artifact_scores <= 1))
    assert np.all(bank.artifact_scores[np.isin(bank.types, (DERMIS, EPIDERMIS))] < 0.5)  # the audit sees tissue


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_labels_truth_and_regions(scenario, bank):
    train, test = make_tissue_scenario(scenario, 24, seed=3, bank=bank, **SIZE)
    again, _ = make_tissue_scenario(scenario, 24, seed=3, bank=bank, **SIZE)
    assert all(np.array_equal(a.bag.features, b.bag.features) for a, b in zip(train, again))  # deterministic
    for variant in (train, test):
        assert sorted(sb.bag.label for sb in variant).count(1) == 12
        for sb in variant:
            b = sb.bag
            tissue = b.instance_labels != ARTEFACT  # artefacts never count (pen and fold are haematoxylin-dark)
            assert b.label == tissue_bag_label(scenario, b.instance_labels) == hand_label(scenario, b.features[tissue])
            needed = (EPIDERMIS, SPARSE) if scenario == "conjunctive" else (EPIDERMIS,)
            assert np.array_equal(b.truth, np.flatnonzero(np.isin(b.instance_labels, needed)) if b.label else [])
            assert len(np.unique(b.coords, axis=0)) == len(b.coords) and sb.artifact_scores.shape == (len(b.coords),)
            cells = b.coords // 256
            for i, r in enumerate(sb.regions):
                assert len(set(b.instance_labels[r].tolist())) == 1  # one tissue type per region
                for q in sb.regions[i + 1:]:  # separate regions never touch, not even at a corner
                    assert np.abs(cells[r][:, None] - cells[q][None]).max(-1).min() >= 2


def test_redundant_each_region_alone_is_sufficient(bank):
    train, _ = make_tissue_scenario("redundant", 24, seed=1, bank=bank, **SIZE)
    for sb in train:
        if not sb.bag.label:
            continue
        x, filler = sb.bag.features, np.flatnonzero(sb.bag.instance_labels == DERMIS)
        assert 3 <= len(sb.regions) <= 5
        for r in sb.regions:  # every region alone, with all the dermis, keeps the label under the hand model
            assert hand_label("redundant", x[np.concatenate([filler, r])]) == 1
        assert hand_label("redundant", x[filler]) == 0


def test_conjunctive_needs_both_types(bank):
    train, _ = make_tissue_scenario("conjunctive", 30, seed=2, bank=bank, **SIZE)
    kinds = {frozenset(set(sb.bag.instance_labels.tolist()) - {DERMIS}) for sb in train if not sb.bag.label}
    assert kinds == {frozenset({EPIDERMIS}), frozenset({SPARSE}), frozenset()}
    for sb in train:
        if sb.bag.label:
            epi, loose = sb.truth_groups
            filler = np.flatnonzero(sb.bag.instance_labels == DERMIS)
            x = sb.bag.features
            assert hand_label("conjunctive", x[np.concatenate([filler, epi])]) == 0
            assert hand_label("conjunctive", x[np.concatenate([filler, loose])]) == 0
            assert hand_label("conjunctive", x[[epi[0], loose[0]]]) == 1


def test_shortcut_artefacts_go_with_the_label_in_training_only(bank):
    train, test = make_tissue_scenario("shortcut", 40, seed=0, bank=bank, **SIZE)
    marked = lambda sb: bool((sb.bag.instance_labels == ARTEFACT).any())
    assert all(marked(sb) == bool(sb.bag.label) for sb in train) and not any(sb.shortcut for sb in train)
    agree = [marked(sb) == bool(sb.bag.label) for sb in test]
    assert 0.2 < 1 - np.mean(agree) < 0.8
    assert [sb.shortcut for sb in test] == [not a for a in agree]
    for a, b in zip(train, test):  # the same tissue, only the artefacts differ
        keep = a.bag.instance_labels != ARTEFACT
        assert np.array_equal(a.bag.features[keep], b.bag.features[b.bag.instance_labels != ARTEFACT])


def test_artefacts_change_real_tissue(cmu_slide):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    patch = np.stack([120 + 60 * np.sin(xx / 5.0), 80 + 40 * np.cos(yy / 7.0), 170 + 0 * xx], -1).astype(np.uint8)
    for kind in ("pen", "fold"):
        out = make_artefact(patch, kind, rng)
        changed = (out != patch).any(-1).mean()
        assert 0.15 < changed < 0.75 and (out.astype(int) <= patch).all()  # a darker band, not the whole patch
    blur = make_artefact(patch, "blur", rng)
    assert np.abs(np.diff(blur.astype(float), axis=1)).mean() < 0.5 * np.abs(np.diff(patch.astype(float), axis=1)).mean()
    with pytest.raises(ValueError, match="unknown artefact kind"):
        make_artefact(patch, "smudge", rng)


def test_bench_runs_on_tissue_and_keeps_sources_apart(bank, monkeypatch, tmp_path, capsys):
    from core.train import attention_failure_tissue
    from core.train.attention_failure_bench import BenchSetting, main, run_setting
    from core.train.attention_failure_report import markdown_report

    monkeypatch.setattr(attention_failure_tissue, "tissue_bank", lambda *a, **k: bank)
    s = BenchSetting(scenario="redundant", host="abmil", gce=False, anchors="", options="", seed=0)
    rec = run_setting(s, n_bags=8, n_folds=2, epochs=1, source="tissue", log=lambda *_: None, **SIZE)
    assert rec["source"] == "tissue" and len(rec["folds"]) == 2
    f = rec["folds"][0]
    assert 3 <= f["n_regions"] <= 5 and 0.0 <= f["attention/regions"] <= 1.0
    assert 0.0 <= f["found/sn_identical"] <= f["found/sn_overlap"] <= 1.0  # the same set is also fully inside
    assert markdown_report([rec]).startswith("Tissue bags (real CMU-1 tissue")
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "x.json").write_text('{"source": "digits"}')
    assert main(["--out", str(tmp_path), "--source", "tissue", "--report-only"]) == 2
    assert "holds records of --source digits" in capsys.readouterr().err
