"""Annotation masks and ``evident train --annotations``: masks from GeoJSON, metrics in results.json, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from core.cli import main
from core.data.annotations import Annotation, write_geojson
from core.errors import EvidentError
from core.train.annotation_masks import annotation_masks, infer_patch_size
from core.train.cohort import load_cohort
from testkit.train import write_cohort


def _annotate(root: Path, n_bags: int = 20, skip: tuple[int, ...] = ()) -> Path:
    """Positive slides (odd i) have their evidence patch 0 at (0, 0) annotated; negatives an empty file."""
    d = root / "annotations"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n_bags):
        if i in skip:
            continue
        geoms = [Annotation(box(0, 0, 256, 256), "Tumor", None, {})] if i % 2 else []
        write_geojson(d / f"s{i:02d}.geojson", geoms)
    return d


def test_masks_from_geojson(tmp_path: Path) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = _annotate(tmp_path, skip=(3,))
    cohort = load_cohort(manifest, feats)
    assert infer_patch_size(cohort.bags[0].coords.numpy()) == 256
    masks = annotation_masks(cohort.bags, ann)
    assert "s03" not in masks and "s01" in masks
    for b in cohort.bags:
        if b.slide_id in masks:
            m = masks[b.slide_id]
            assert m.shape == (b.features.shape[0],) and m.dtype == bool
            want = np.zeros(len(m), bool)
            if int(b.slide_id[1:]) % 2:
                want[0] = True
            np.testing.assert_array_equal(m, want)
    # a polygon covering 0.5 % of patch 1 does not mark it (≥ 1 % rule); 2 % does
    write_geojson(ann / "s01.geojson", [Annotation(box(256, 0, 256 + 256 * 0.005, 256), None, None, {})])
    assert not annotation_masks(cohort.bags, ann)["s01"].any()
    write_geojson(ann / "s01.geojson", [Annotation(box(256, 0, 256 + 256 * 0.02, 256), None, None, {})])
    assert annotation_masks(cohort.bags, ann)["s01"].tolist()[:2] == [False, True]
    # a transform (noisy annotations) shifts the mask by one patch
    shifted = annotation_masks(cohort.bags, _annotate(tmp_path), transform=lambda g: __import__(
        "shapely.affinity", fromlist=["translate"]).translate(g, 256, 0))
    assert shifted["s01"].tolist()[:2] == [False, True]


def test_mask_errors(tmp_path: Path) -> None:
    manifest, feats = write_cohort(tmp_path)
    cohort = load_cohort(manifest, feats)
    with pytest.raises(EvidentError, match="is not a folder"):
        annotation_masks(cohort.bags, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvidentError, match="no <slide_id>.geojson"):
        annotation_masks(cohort.bags, tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "s01.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(EvidentError) as e:
        annotation_masks(cohort.bags, bad)
    assert "s01.geojson" in str(e.value)


def _args(tmp_path: Path, manifest: Path, feats: Path, out: str, *extra: str) -> list[str]:
    return ["train", "--manifest", str(manifest), "--features", str(feats), "--host", "abmil", "--out",
            str(tmp_path / out), "--folds", "2", "--epochs", "2", "--hidden", "8", "--attn-hidden", "4",
            "--val-fraction", "0", "--device", "cpu", *extra]


@pytest.mark.parametrize("kind", ["outside-mass", "rrr", "kl"])
def test_train_with_annotations(tmp_path: Path, capsys, kind: str) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = _annotate(tmp_path, skip=(1,))
    rc = main(_args(tmp_path, manifest, feats, "run", "--annotations", str(ann), "--explanation-loss", kind,
                    "--explanation-weight", "0.5"))
    assert rc == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    a = res["annotation"]
    for k in ("coverage", "precision", "relevance_mass", "dice"):
        assert 0.0 <= a["mean"][k] <= 1.0
        assert 0.0 < a["mean"][f"{k}_chance"] <= 1.0
    assert sum(f["n_slides"] for f in a["per_fold"]) == 9  # positives with a non-empty annotation (s01 has none)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert cfg["explanation"] == {"loss": kind, "weight": 0.5, "annotations": str(ann), "n_annotated": 9,
                                  "evidence_classes": ["Tumor"], "unclassified_evidence": False}
    assert "annotation_coverage" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["outside-mass", "rrr", "kl"])
def test_train_with_annotations_and_gce(tmp_path: Path, kind: str) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = _annotate(tmp_path)
    rc = main(_args(tmp_path, manifest, feats, "gce", "--gce", "--annotations", str(ann), "--explanation-loss", kind))
    assert rc == 0
    res = json.loads((tmp_path / "gce" / "results.json").read_text(encoding="utf-8"))
    assert res["annotation"]["mean"]["relevance_mass"] is not None


def test_bad_annotations_dir_fails_cleanly(tmp_path: Path, capsys) -> None:
    manifest, feats = write_cohort(tmp_path)
    rc = main(_args(tmp_path, manifest, feats, "x", "--annotations", str(tmp_path / "missing")))
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "missing" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_explanation_options_need_annotations(tmp_path: Path, capsys) -> None:
    manifest, feats = write_cohort(tmp_path)
    rc = main(_args(tmp_path, manifest, feats, "y", "--explanation-weight", "1"))
    err = capsys.readouterr().err
    assert rc == 2 and "need --annotations" in err and not (tmp_path / "y").exists()
    rc = main(_args(tmp_path, manifest, feats, "z", "--evidence-classes", "Tumor"))
    err = capsys.readouterr().err
    assert rc == 2 and "--evidence-classes need --annotations" in err and not (tmp_path / "z").exists()
