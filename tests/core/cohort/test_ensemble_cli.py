"""``evident explain --ensemble RUN_DIR``: on a real `evident train` run, the ensemble maps land in the
evidence file with their members (out-of-fold ones: the folds whose test set held the slide), merge
with what the file holds, and open in the viewer's loader as spread layers."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.cli import main
from core.data.bag import FeatureBag
from core.data.bags import read_bag, write_bag
from core.evidence.evidence_file import read_evidence
from testkit.train import write_cohort

TRAIN = ["--host", "abmil", "--folds", "2", "--repeats", "2", "--epochs", "1", "--hidden", "8", "--attn-hidden", "4",
         "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    manifest, features = write_cohort(root / "data", n_bags=12)
    assert main(["train", "--manifest", str(manifest), "--features", str(features), "--out", str(root / "run"),
                 *TRAIN]) == 0
    return root, features


def _test_sets(run_dir: Path) -> dict[str, set[str]]:
    return {f"{run_dir.name}/{d.name}": {p["slide_id"] for p in json.loads((d / "fold.json").read_text())["predictions"]}
            for d in sorted(run_dir.glob("fold_*"))}


def test_ensemble_maps_use_the_out_of_fold_members(run, tmp_path: Path, capsys) -> None:
    root, features = run
    bags = [features / "s00.h5", features / "s05.h5"]
    ckpt = root / "run" / "fold_0_0" / "model.pt"
    out = tmp_path / "ev"
    assert main(["explain", "--model", str(ckpt), "--features", *map(str, bags), "--methods", "attention",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert main(["explain", "--ensemble", str(root / "run"), "--features", *map(str, bags),
                 "--methods", "attention,gradient", "--out", str(out), "--device", "cpu"]) == 0
    tests = _test_sets(root / "run")
    assert len(tests) == 4
    for sid in ("s00", "s05"):
        ev = read_evidence(out / f"{sid}.evidence.h5")
        assert "attention" in ev.scores  # the single-model explain's map is kept
        assert ev.model == str(ckpt) and ev.probs is not None  # and its prediction and model
        expected = sorted(n for n, t in tests.items() if sid in t)
        assert len(expected) == 2  # one fold per repeat held the slide out
        for m in ("attention", "gradient"):
            for suffix in ("_ensemble_mean", "_ensemble_std", "_ensemble_rank_spread"):
                a = ev.score_attrs[m + suffix]
                assert json.loads(a["members"]) == expected and a["out_of_fold"] == 1 and a["n_members"] == 2
                assert a["n_out_of_fold"] == 2
                assert a["ensemble_method"] == m
            assert ev.scores[m + "_ensemble_std"].min() >= 0
        # the mean map is the mean of the two out-of-fold models' maps
        from core.explain.registry import build_explainer
        from core.models.checkpoint import load_checkpoint

        bag = read_bag(features / f"{sid}.h5")
        target = ev.score_attrs["attention_ensemble_mean"]["target"]
        maps = [build_explainer("attention", load_checkpoint(root / n / "model.pt")[0].eval())
                .attribute(bag.features, bag.coords, target=target) for n in expected]
        np.testing.assert_allclose(ev.scores["attention_ensemble_mean"], np.mean(maps, 0), atol=1e-6)
        np.testing.assert_allclose(ev.scores["attention_ensemble_std"], np.std(maps, 0), atol=1e-6)
    assert "2 out-of-fold member(s)" in capsys.readouterr().err
    # with --min-members 3 the two held-out folds are not enough: all four members, flagged
    assert main(["explain", "--ensemble", str(root / "run"), "--features", str(bags[0]), "--methods", "attention",
                 "--out", str(out), "--device", "cpu", "--min-members", "3"]) == 0
    a = read_evidence(out / "s00.evidence.h5").score_attrs["attention_ensemble_std"]
    assert a["out_of_fold"] == 0 and a["n_members"] == 4 and a["n_out_of_fold"] == 2
    assert "only 2 held this slide out" in capsys.readouterr().err


def test_a_slide_no_fold_held_out_uses_every_member_flagged(run, tmp_path: Path) -> None:
    root, features = run
    b = read_bag(features / "s01.h5")
    ext = tmp_path / "external.h5"
    write_bag(ext, FeatureBag(b.features, b.coords, 256, "external"))
    out = tmp_path / "ev"
    assert main(["explain", "--ensemble", str(root / "run"), "--features", str(ext), "--methods", "attention",
                 "--out", str(out), "--device", "cpu"]) == 0
    ev = read_evidence(out / "external.evidence.h5")
    a = ev.score_attrs["attention_ensemble_mean"]
    assert a["out_of_fold"] == 0 and a["n_members"] == 4 and a["n_out_of_fold"] == 0
    assert ev.probs is not None and ev.model == ""  # a new file: the members' mean prediction
    assert ev.predicted_class == int(np.argmax(json.loads(a["ensemble_prediction"])))
    with h5py.File(out / "external.evidence.h5") as f:  # plain HDF5 attributes on the score
        assert int(f["scores/attention_ensemble_std"].attrs["n_members"]) == 4


def test_the_viewer_shows_the_spread_as_a_spread(run, tmp_path: Path) -> None:
    from core.review.loading import read_evidence_layers

    root, features = run
    out = tmp_path / "ev"
    assert main(["explain", "--ensemble", str(root / "run"), "--features", str(features / "s02.h5"),
                 "--methods", "attention", "--out", str(out), "--device", "cpu"]) == 0
    layers = {x.name: x for x in read_evidence_layers(out / "s02.evidence.h5", None).layers}
    for name in ("attention_ensemble_std", "attention_ensemble_rank_spread"):
        assert layers[name].units.startswith("spread") and layers[name].settings.colormap == "magma"
    mean = layers["attention_ensemble_mean"]
    assert "spread" not in mean.units and mean.units.startswith("mean over models of attention")


def test_bad_ensemble_inputs_are_one_clear_error(run, tmp_path: Path, capsys) -> None:
    root, features = run
    base = ["explain", "--features", str(features / "s00.h5"), "--out", str(tmp_path / "o"), "--device", "cpu"]
    assert main([*base, "--ensemble", str(tmp_path / "nope")]) == 2
    assert "training run folder not found" in capsys.readouterr().err
    assert main([*base, "--ensemble", str(root / "run"), "--model", str(root / "run" / "fold_0_0" / "model.pt")]) == 2
    assert "exactly one of them" in capsys.readouterr().err
    assert main([*base, "--ensemble", str(root / "run"), "--evidence-sets"]) == 2
    assert "computes maps only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
