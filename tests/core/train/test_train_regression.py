"""``evident train --task regression`` on a small real target, then explain, audit and the viewer's predictor.

The cohort (tests/testkit/regression.py): Musk1's 92 real bags; the target of a bag is the mean of
its feature 0, which is removed from the features the model sees. The model must beat the mean
predictor (the training fold's mean, what predicting "no information" gives) on the held-out folds.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.cli import main
from core.data.bags import read_bag
from core.diagnostics.evidence_search import SearchConfig, is_necessary, is_sufficient
from core.diagnostics.interventions import InterventionEngine
from core.models.checkpoint import load_checkpoint
from core.models.target_scale import target_scale_of
from core.review.intervene import InterventionRequest, load_predictor
from testkit.regression import write_musk1_regression

TRAIN = ["--task", "regression", "--host", "abmil", "--folds", "3", "--epochs", "6", "--hidden", "32",
         "--attn-hidden", "16", "--device", "cpu", "--seed", "0"]


@pytest.fixture(scope="module")
def run(real_data, tmp_path_factory) -> tuple[Path, Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("musk1_regression")
    manifest, targets = write_musk1_regression(real_data["musk1"], root / "data")
    out = root / "run"
    assert main(["train", "--manifest", str(manifest), "--out", str(out), *TRAIN]) == 0
    return manifest, out, targets


def test_regression_beats_the_mean_predictor_on_held_out_folds(run) -> None:
    manifest, out, targets = run
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "regression" and len(res["folds"]) == 3
    assert set(res["mean"]) == {"mse", "rmse", "mae", "r2", "pearson", "spearman"}
    model_se, mean_se, n = 0.0, 0.0, 0
    for k in range(3):
        fold = json.loads((out / f"fold_0_{k}" / "fold.json").read_text())
        mu, sd = fold["target_scale"]
        train_ids = set(targets) - {p["slide_id"] for p in fold["predictions"]}
        train_t = np.array([targets[s] for s in train_ids])
        assert mu != pytest.approx(float(np.mean(list(targets.values()))), abs=1e-9)  # the fold's, not the cohort's
        assert abs(mu - train_t.mean()) < 0.2 * train_t.std() and sd > 0  # training part (validation cases held out)
        for p in fold["predictions"]:  # predictions and targets are in the label's units
            assert p["target"] == pytest.approx(targets[p["slide_id"]], rel=1e-5)
            model_se += (p["prediction"] - p["target"]) ** 2
            mean_se += (mu - p["target"]) ** 2
            n += 1
        cfg = load_checkpoint(out / f"fold_0_{k}" / "model.pt")[1]
        assert cfg["task"] == "regression" and target_scale_of(cfg).to_config() == [mu, sd]
    assert n == 92
    assert model_se / n < 0.8 * (mean_se / n), (model_se / n, mean_se / n)  # beats the mean predictor
    assert res["pooled"]["r2"] > 0.2 and res["pooled"]["spearman"] > 0.3
    rows = list(csv.DictReader((out / "predictions.csv").read_text().splitlines()))
    assert len(rows) == 92 and all(float(r["value"]) == pytest.approx(float(r["prediction"])) for r in rows)


def test_regression_explain_writes_the_value_and_maps(run, tmp_path) -> None:
    manifest, out, targets = run
    fold = json.loads((out / "fold_0_0" / "fold.json").read_text())
    p = fold["predictions"][0]
    bag_path = manifest.parent / "features" / f"{p['slide_id']}.h5"
    assert main(["explain", "--model", str(out / "fold_0_0" / "model.pt"), "--features", str(bag_path),
                 "--methods", "attention,gradient", "--out", str(tmp_path), "--device", "cpu"]) == 0
    with h5py.File(tmp_path / f"{p['slide_id']}.evidence.h5") as f:
        assert f.attrs["task"] == "regression" and int(f.attrs["predicted_class"]) == -1
        value, z = float(f["prediction/value"][0]), float(f["prediction/risk"][0])
        n = read_bag(bag_path).features.shape[0]
        assert f["scores/attention"].shape == (n,) and np.isfinite(f["scores/gradient"][:]).all()
    mu, sd = fold["target_scale"]
    assert value == pytest.approx(p["prediction"], rel=1e-4, abs=1e-4)  # the value results.json reports
    assert value == pytest.approx(mu + sd * z, rel=1e-5)


def test_regression_audit_uses_spearman_and_absolute_changes(run, tmp_path) -> None:
    manifest, out, targets = run
    report = tmp_path / "audit"
    assert main(["audit", "--manifest", str(manifest), "--features", str(manifest.parent / "features"), "--model", str(out / "fold_0_0" / "model.pt"), "--out",
                 str(report), "--methods", "attention,random", "--minimal-k", "4", "--max-slides", "20"]) == 0
    summary = json.loads((report / "cohort.json").read_text())
    assert summary["settings"]["task"] == "regression"
    for rule in ("attention", "random"):
        r = summary["snr"][rule]
        assert -1.0 <= r["metric_full"] <= 1.0 and r["n_slides"] == 20
        assert r["keep_only_drop"] == pytest.approx(r["metric_full"] - r["evidence_sufficiency"])
        assert r["keep_only_drop_phi"] >= 0 and r["complement_degradation_phi"] >= 0  # |ΔΦ| in target SDs
    rows = list(csv.DictReader((report / "per_slide.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 20 and all(r["correct"] == "" for r in rows)
    assert all(float(r["keep_only_drop_attention"]) >= 0 for r in rows)
    scale = target_scale_of(load_checkpoint(out / "fold_0_0" / "model.pt")[1])
    for r in rows:  # predicted: the value in target units; phi: the same in target-SD units
        assert float(r["predicted"]) == pytest.approx(float(scale.to_value(float(r["phi"]))), rel=1e-4, abs=1e-4)
        assert float(r["label"]) == pytest.approx(targets[r["slide_id"]], rel=1e-5)


def test_sufficiency_and_necessity_of_a_regression_are_tolerances_in_target_sd(run) -> None:
    manifest, out, _ = run
    model, _ = load_checkpoint(out / "fold_0_1" / "model.pt")
    bag = max((read_bag(f) for f in sorted((manifest.parent / "features").glob("*.h5"))),
              key=lambda b: b.features.shape[0])  # the largest real bag (40 conformations)
    eng = InterventionEngine(model.eval(), bag.features, bag.coords)
    n = eng.n
    subsets = [np.arange(k) for k in range(1, n)]
    keep, rm = eng.keep_only_many(subsets).outputs, eng.remove_many(subsets).outputs
    z0 = eng.output_before[0]
    cfg = SearchConfig(delta_s=0.1, delta_n=0.2)
    assert eng.phi_before == pytest.approx(z0)  # Φ is the output itself (target-SD units), no sigmoid
    np.testing.assert_array_equal(is_sufficient(eng, keep, cfg), np.abs(keep[:, 0] - z0) <= 0.1)
    np.testing.assert_array_equal(is_necessary(eng, rm, cfg), np.abs(rm[:, 0] - z0) >= 0.2)
    np.testing.assert_allclose(eng.phi_drop(keep), np.abs(keep[:, 0] - z0))  # a rise counts as much as a fall
    assert (keep[:, 0] > z0).any() or (rm[:, 0] > z0).any()  # both directions occur on this bag


def test_viewer_predictor_reports_the_value_not_a_class(run) -> None:
    manifest, out, _ = run
    fold = json.loads((out / "fold_0_2" / "fold.json").read_text())
    p = fold["predictions"][0]
    bag = read_bag(manifest.parent / "features" / f"{p['slide_id']}.h5")
    pred = load_predictor(out / "fold_0_2" / "model.pt", bag, device="cpu")
    rep = pred.run(InterventionRequest("keep", np.arange(min(3, bag.features.shape[0]))))
    assert pred.classes == ("value",) and rep.values is not None
    assert rep.values[0] == pytest.approx(p["prediction"], rel=1e-4, abs=1e-4)
    mu, sd = fold["target_scale"]
    assert rep.values[1] == pytest.approx(mu + sd * rep.probs_after[0], rel=1e-6)
    assert rep.sufficiency_drop == pytest.approx(abs(rep.probs_after[0] - rep.probs_before[0]))
    assert math.isfinite(rep.necessity_drop) and rep.necessity_drop >= 0


def test_non_numeric_regression_label_is_one_clear_error(tmp_path, capsys) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("slide_id,label,features_path\na,1.5,a.h5\nb,2.0,b.h5\nc,high,c.h5\nd,oops,d.h5\n")
    out = tmp_path / "out"
    assert main(["train", "--manifest", str(manifest), "--out", str(out), *TRAIN]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {manifest}: line 4:") and "'label'" in err[0] and "'high'" in err[0]
    assert "'c'" in err[0] and "oops" not in err[0] and not out.exists()
