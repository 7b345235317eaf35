"""Cross-validation runner: outputs, learning on a separable cohort, resume equal to an uninterrupted run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.errors import EvidentError
from core.models.checkpoint import load_checkpoint
from core.train.cohort import cohort_from_arrays, load_cohort
from core.train.cv import CVConfig, run_cv, with_task
from core.train.trainer import TrainConfig
from testkit.train import synthetic_bags, tiny_config, write_cohort

CFG = TrainConfig(epochs=4, lr=1e-2, weight_decay=1e-4, standardise=True)
CV = CVConfig(folds=3, repeats=2, seed=5, val_fraction=0.2)


@pytest.fixture(scope="module")
def cohort():
    feats, labels = synthetic_bags()
    return cohort_from_arrays(feats, labels, "classification", ("neg", "pos"))


def test_outputs_and_learning(cohort, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = run_cv(cohort, "abmil", with_task(tiny_config(), cohort), out, CFG, CV)
    assert {p.name for p in out.iterdir()} >= {"config.json", "predictions.csv", "results.json", "training_curves.png",
                                                "fold_0_0", "fold_1_2"}
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(res))
    assert len(saved["folds"]) == 6 and set(saved["mean"]) == {"accuracy", "macro_f1", "auc"}
    assert saved["mean"]["auc"] > 0.8  # the shifted instance is easy to find
    rows = list(csv.DictReader((out / "predictions.csv").read_text().splitlines()))
    assert len(rows) == 2 * len(cohort.bags)
    assert set(rows[0]) == {"repeat", "fold", "slide_id", "case_id", "label", "prediction", "prob_neg", "prob_pos"}
    model, config = load_checkpoint(out / "fold_0_1" / "model.pt")
    assert config["classes"] == ["neg", "pos"] and config["host"] == "abmil" and config["fold"] == 1
    assert float(model.norm.std.mean()) != 1.0  # training-fold standardisation travels with the model
    with pytest.raises(EvidentError, match="already holds a training run"):
        run_cv(cohort, "abmil", with_task(tiny_config(), cohort), out, CFG, CV)


def test_resume_equals_uninterrupted(cohort, tmp_path: Path) -> None:
    host_cfg = with_task(tiny_config(), cohort)
    full = run_cv(cohort, "dsmil", host_cfg, tmp_path / "a", CFG, CV)

    def stop_after_second(split):
        if (split.repeat, split.fold) == (0, 1):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cv(cohort, "dsmil", host_cfg, tmp_path / "b", CFG, CV, on_fold_done=stop_after_second)
    assert not (tmp_path / "b" / "results.json").exists()
    assert (tmp_path / "b" / "fold_0_1" / "fold.json").exists() and not (tmp_path / "b" / "fold_0_2").exists()
    with pytest.raises(EvidentError, match="other settings"):
        run_cv(cohort, "dsmil", host_cfg, tmp_path / "b", TrainConfig(epochs=5), CV, resume=True)
    resumed = run_cv(cohort, "dsmil", host_cfg, tmp_path / "b", CFG, CV, resume=True)
    assert resumed == full
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()


def test_survival_cohort_from_files(tmp_path: Path) -> None:
    manifest, features = write_cohort(tmp_path, n_bags=20, survival=True)
    cohort = load_cohort(manifest, features)
    assert cohort.task == "survival" and cohort.feature_dim == 8
    res = run_cv(cohort, "abmil", with_task(tiny_config(), cohort), tmp_path / "out",
                 TrainConfig(epochs=3, lr=1e-2, batch_size=8), CVConfig(folds=2, repeats=1, seed=0, val_fraction=0))
    assert set(res["mean"]) == {"c_index"} and 0.0 <= res["mean"]["c_index"] <= 1.0
    header = (tmp_path / "out" / "predictions.csv").read_text().splitlines()[0]
    assert header.endswith("risk,time,event")


@pytest.mark.parametrize("host", ["clam_sb", "transmil", "dtfd"])
def test_every_host_trains_through_the_runner(cohort, host: str, tmp_path: Path) -> None:
    res = run_cv(cohort, host, with_task(tiny_config(), cohort), tmp_path / host, TrainConfig(epochs=2, lr=5e-3),
                 CVConfig(folds=2, repeats=1, seed=0, val_fraction=0.2))
    assert len(res["folds"]) == 2 and res["mean"]["accuracy"] is not None


def test_custom_factory_and_set_epoch_are_used(cohort, tmp_path: Path) -> None:
    """The GCE seam: a factory's model and objective are what the runner trains and checkpoints."""
    from core.models.registry import build_host
    from core.train.objective import host_objective

    calls = {"objective": 0, "epochs": []}

    class Wrapped(type(build_host("abmil", with_task(tiny_config(), cohort)))):
        def set_epoch(self, epoch: int, n_epochs: int) -> None:
            calls["epochs"].append((epoch, n_epochs))

    def factory(name, cfg, train_bags):
        assert len(train_bags) > 0 and name == "abmil"
        inner = host_objective(cfg.task)

        def objective(model, f, c, t):
            calls["objective"] += 1
            return inner(model, f, c, t)

        return Wrapped(cfg), objective

    run_cv(cohort, "abmil", with_task(tiny_config(), cohort), tmp_path / "r", TrainConfig(epochs=2),
           CVConfig(folds=2, repeats=1, seed=0, val_fraction=0), factory=factory)
    assert calls["objective"] >= 2 * len(cohort.bags)
    assert calls["epochs"][:2] == [(0, 2), (1, 2)]


@pytest.mark.parametrize("text", ["{\"host\": ", "[1, 2]"])
def test_resume_over_an_unreadable_config_is_one_clear_error(cohort, tmp_path: Path, text: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(text, encoding="utf-8")
    with pytest.raises(EvidentError, match="cannot read the earlier run's settings") as err:
        run_cv(cohort, "abmil", with_task(tiny_config(), cohort), out, CFG, CV, resume=True)
    assert err.value.path == str(out / "config.json")
    assert (out / "config.json").read_text(encoding="utf-8") == text  # input untouched
