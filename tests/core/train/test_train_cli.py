"""``evident train``: a run end to end, and every bad input as one error line, exit 2, nothing written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.cli import main
from core.data.manifest import ManifestRow, write_manifest
from testkit.train import write_cohort

FAST = ["--host", "abmil", "--folds", "2", "--epochs", "1", "--hidden", "8", "--attn-hidden", "4"]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _fails(capsys, argv: list[str], match: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err
    return err[0]


def test_train_end_to_end(tmp_path: Path, capsys) -> None:
    manifest, features = write_cohort(tmp_path / "data")
    before = _digest(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["train", "--manifest", str(manifest), "--features", str(features), "--out", str(out),
                 "--host", "clam_sb", "--host-option", "k_sample=2", "--device", "cpu", "--standardise", *FAST[2:]]) == 0
    assert "accuracy" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert len(res["folds"]) == 2 and set(res["mean"]) == {"accuracy", "macro_f1", "auc"}
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == ["benign", "tumour"] and config["host_config"]["in_dim"] == 8
    assert config["host_config"]["extra"] == {"k_sample": 2}
    assert _digest(tmp_path / "data") == before
    # resuming a finished run rewrites identical results
    assert main(["train", "--manifest", str(manifest), "--features", str(features), "--out", str(out),
                 "--host", "clam_sb", "--host-option", "k_sample=2", "--device", "cpu", "--standardise", "--resume", *FAST[2:]]) == 0
    assert json.loads((out / "results.json").read_text()) == res


def test_missing_feature_files_are_listed(tmp_path: Path, capsys) -> None:
    manifest, features = write_cohort(tmp_path)
    (features / "s03.h5").unlink()
    (features / "s07.h5").unlink()
    out = tmp_path / "out"
    line = _fails(capsys, ["train", "--manifest", str(manifest), "--features", str(features), "--out", str(out), *FAST],
                  "2 slide(s) have no feature file")
    assert "s03, s07" in line and str(manifest) in line
    assert not out.exists()


def test_one_class_and_survival_without_events(tmp_path: Path, capsys) -> None:
    _, features = write_cohort(tmp_path)
    one = tmp_path / "one.csv"
    write_manifest(one, [ManifestRow(slide_id=f"s{i:02d}", case_id=f"s{i:02d}", label="tumour") for i in range(20)])
    _fails(capsys, ["train", "--manifest", str(one), "--features", str(features), "--out", str(tmp_path / "o1"), *FAST],
           "one class only")
    surv = tmp_path / "surv.csv"
    write_manifest(surv, [ManifestRow(slide_id=f"s{i:02d}", case_id=f"s{i:02d}", time=5.0 + i, event=0) for i in range(20)])
    _fails(capsys, ["train", "--manifest", str(surv), "--features", str(features), "--out", str(tmp_path / "o2"), *FAST],
           "no events")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_nan_features_and_width_mismatch(tmp_path: Path, capsys) -> None:
    manifest, features = write_cohort(tmp_path)
    with h5py.File(features / "s05.h5", "r+") as f:
        x = f["features"][...]
        x[1, 2] = np.nan
        f["features"][...] = x
    line = _fails(capsys, ["train", "--manifest", str(manifest), "--features", str(features), "--out",
                           str(tmp_path / "out"), *FAST], "s05.h5")
    assert "nan" in line.lower() or "finite" in line.lower()
    with h5py.File(features / "s05.h5", "r+") as f:
        coords = f["coords"][...]
        del f["features"]
        f["features"] = np.zeros((coords.shape[0], 5), np.float32)
    _fails(capsys, ["train", "--manifest", str(manifest), "--features", str(features), "--out", str(tmp_path / "out"),
                    *FAST], "s05.h5")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, match", [
    (["--host", "resnet"], "unknown host 'resnet'"),
    (["--host-option", "distill=nope", "--host", "dtfd"], "distill='nope' for host 'dtfd': use one of maxmins, maxs, afs"),
    (["--host-option", "head=4", "--host", "transmil"], "host 'transmil' has no option 'head' (its options: attention, "),
    (["--host-option", "heads=four", "--host", "transmil"], "heads='four' for host 'transmil': expected int"),
    (["--host-option", "k_sample=2", "--host", "abmil"], "host 'abmil' has no option 'k_sample' (its options: none)"),
    (["--host-option", "bag_weight=1.5", "--host", "clam_sb"], "bag_weight must be in (0, 1]"),
    (["--host-option", "novalue", "--host", "clam_sb"], "--host-option: expected KEY=VALUE"),
    (["--device", "cuda:7"], "cuda:7"),
    (["--folds", "30"], "cannot make 30 folds"),
    (["--monitor", "recall"], "unknown --monitor 'recall'"),
])
def test_bad_settings(tmp_path: Path, capsys, extra: list[str], match: str) -> None:
    manifest, features = write_cohort(tmp_path)
    if extra[0] == "--device":
        pytest.importorskip("torch")
        import torch

        if torch.cuda.device_count() > 7:
            pytest.skip("this machine has a cuda:7")
    _fails(capsys, ["train", "--manifest", str(manifest), "--features", str(features), "--out", str(tmp_path / "out"),
                    *FAST, *extra], match)
    assert not (tmp_path / "out").exists()
