"""``evident train --annotations DIR --evidence-classes NAMES``: only regions of the named QuPath
classes are evidence (GeoJSON written here in QuPath's layout and the older ones the loader reads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.errors import EvidentError
from core.train.annotation_masks import annotation_masks, evidence_classes
from core.train.cohort import load_cohort
from testkit.train import write_cohort


def _square(x0: int) -> dict:
    """A GeoJSON polygon over the 256-px patch whose corner is (x0, 0)."""
    return {"type": "Polygon", "coordinates": [[[x0, 0], [x0 + 256, 0], [x0 + 256, 256], [x0, 256], [x0, 0]]]}


def _feature(x0: int, classification) -> dict:
    props = {"objectType": "annotation"}
    if classification is not None:
        props["classification"] = classification
    return {"type": "Feature", "geometry": _square(x0), "properties": props}


def _annotate(root: Path, n_bags: int = 20) -> Path:
    """Every slide: Stroma over patch 1, Ignore* over patch 2, an unclassified region over patch 3;
    positives (odd) also Tumor over patch 0, their evidence. Slides s01/s03 use older layouts
    (classification as a bare string, or as a ``names`` list)."""
    d = root / "annotations"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n_bags):
        tumor = {"name": "Tumor", "color": [200, 0, 0]}
        if i == 1:
            tumor = "Tumor"
        elif i == 3:
            tumor = {"names": ["Tumor"]}
        feats = [_feature(256, {"name": "Stroma", "color": [0, 200, 0]}),
                 _feature(512, {"name": "Ignore*", "color": [180, 180, 180]}), _feature(768, None)]
        if i % 2:
            feats.insert(0, _feature(0, tumor))
        (d / f"s{i:02d}.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                                             encoding="utf-8")
    return d


def test_only_the_named_classes_are_evidence(tmp_path: Path) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = _annotate(tmp_path)
    bags = load_cohort(manifest, feats).bags
    every = evidence_classes(bags, ann)
    assert every.found == {"Ignore*": 20, "Stroma": 20, "Tumor": 10} and every.unclassified == 20
    assert every.used == ["Ignore*", "Stroma", "Tumor"]
    assert annotation_masks(bags, ann, classes=every.selected)["s02"].tolist()[:5] == [False, True, True, True, False]
    tumor = evidence_classes(bags, ann, ["Tumor"])
    assert tumor.describe() == "evidence classes: Tumor; not evidence: Ignore*, Stroma, 20 unclassified region(s)"
    masks = annotation_masks(bags, ann, classes=tumor.selected)
    for b in bags:
        want = [bool(int(b.slide_id[1:]) % 2)] + [False] * (len(b.coords) - 1)
        assert masks[b.slide_id].tolist() == want, b.slide_id  # the old layouts (s01, s03) too
    both = annotation_masks(bags, ann, classes=evidence_classes(bags, ann, ["Tumor", "Ignore*"]).selected)
    assert both["s05"].tolist()[:4] == [True, False, True, False]


def test_an_unknown_class_is_one_error_naming_the_folder_and_the_classes_found(tmp_path: Path) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = _annotate(tmp_path)
    bags = load_cohort(manifest, feats).bags
    with pytest.raises(EvidentError) as err:
        evidence_classes(bags, ann, ["Tumor", "tumour"])
    assert err.value.path == str(ann)
    msg = err.value.message
    assert "'tumour'" in msg and "'Tumor'" not in msg
    assert "Ignore* (20), Stroma (20), Tumor (10)" in msg and "20 unclassified" in msg


def _args(tmp_path: Path, manifest: Path, feats: Path, out: str, *extra: str) -> list[str]:
    return ["train", "--manifest", str(manifest), "--features", str(feats), "--host", "abmil", "--out",
            str(tmp_path / out), "--folds", "2", "--epochs", "2", "--hidden", "8", "--attn-hidden", "4",
            "--val-fraction", "0", "--device", "cpu", "--annotations", str(tmp_path / "annotations"), *extra]


def test_train_records_and_prints_the_evidence_classes(tmp_path: Path, capsys) -> None:
    manifest, feats = write_cohort(tmp_path)
    _annotate(tmp_path)
    assert main(_args(tmp_path, manifest, feats, "every")) == 0
    out = capsys.readouterr().out
    assert "evidence classes: Ignore*, Stroma, Tumor and 20 unclassified region(s)\n" in out
    assert main(_args(tmp_path, manifest, feats, "tumor", "--evidence-classes", "Tumor")) == 0
    assert "evidence classes: Tumor; not evidence:" in capsys.readouterr().out
    cfg = {run: json.loads((tmp_path / run / "config.json").read_text(encoding="utf-8"))["explanation"]
           for run in ("every", "tumor")}
    assert cfg["every"]["evidence_classes"] == ["Ignore*", "Stroma", "Tumor"] and cfg["every"]["unclassified_evidence"]
    assert cfg["tumor"]["evidence_classes"] == ["Tumor"] and not cfg["tumor"]["unclassified_evidence"]
    assert (cfg["every"]["n_annotated"], cfg["tumor"]["n_annotated"]) == (20, 10)
    res = json.loads((tmp_path / "tumor" / "results.json").read_text(encoding="utf-8"))
    assert sum(f["n_slides"] for f in res["annotation"]["per_fold"]) == 10  # metrics against Tumor regions only


def test_train_with_an_unknown_evidence_class_fails_before_writing(tmp_path: Path, capsys) -> None:
    manifest, feats = write_cohort(tmp_path)
    ann = _annotate(tmp_path)
    rc = main(_args(tmp_path, manifest, feats, "x", "--evidence-classes", "Tumor,Epithelium"))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: {ann}: ")
    assert "'Epithelium'" in err[0] and "Stroma (20)" in err[0]
    assert not (tmp_path / "x").exists()
