"""File-kind detection and matching files by slide stem (CLAM / TRIDENT layouts)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.errors import EvidentError
from core.review.filekinds import FileKind, detect_kind
from core.review.matching import collect, match_files, slide_stem


def _h5(path: Path, **datasets) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f[k] = v
    return path


def _project(root: Path) -> dict[str, Path]:
    files = {
        "slide": root / "slides" / "S1.svs",
        "other_slide": root / "slides" / "S2.tiff",
        "features": _h5(root / "features_uni" / "h5_files" / "S1.h5", features=np.zeros((2, 3)),
                        coords=np.zeros((2, 2))),
        "patches": _h5(root / "patches" / "S1.h5", coords=np.zeros((2, 2))),
        "evidence": _h5(root / "evidence" / "S1_evidence.h5", **{"scores/attention": np.zeros(2)}),
        "geojson": root / "annotations" / "S1.geojson",
        "stray": _h5(root / "features_uni" / "h5_files" / "S9.h5", features=np.zeros((1, 3)), coords=np.zeros((1, 2))),
    }
    files["slide"].parent.mkdir(parents=True, exist_ok=True)
    files["slide"].write_bytes(b"x")
    files["other_slide"].write_bytes(b"x")
    files["geojson"].parent.mkdir(parents=True, exist_ok=True)
    files["geojson"].write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    return files


def test_detect_kind_by_extension_and_content(tmp_path):
    f = _project(tmp_path)
    assert detect_kind(f["slide"]) is FileKind.SLIDE
    assert detect_kind(f["features"]) is FileKind.FEATURES
    assert detect_kind(f["evidence"]) is FileKind.EVIDENCE
    assert detect_kind(f["geojson"]) is FileKind.ANNOTATIONS
    assert detect_kind(tmp_path) is FileKind.FOLDER
    (tmp_path / "m.pt").write_bytes(b"x")
    assert detect_kind(tmp_path / "m.pt") is FileKind.CHECKPOINT
    (tmp_path / "notes.json").write_text("[1, 2]")
    assert detect_kind(tmp_path / "notes.json") is FileKind.UNKNOWN
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(EvidentError, match="bad.h5"):
        detect_kind(bad)
    with pytest.raises(EvidentError, match="no such"):
        detect_kind(tmp_path / "missing.svs")


def test_slide_stem_strips_tags():
    assert slide_stem("a/S1_evidence.h5") == "S1" and slide_stem("S1.ome.tiff") == "S1"
    assert slide_stem("TCGA-01.svs") == "TCGA-01"


def test_folder_matches_by_stem_preferring_feature_folders(tmp_path):
    f = _project(tmp_path)
    entries, problems = collect([tmp_path])
    assert problems == []
    res = match_files(entries)
    by = {g.stem: g for g in res.groups}
    assert set(by) == {"S1", "S2"}
    g = by["S1"]
    assert (g.slide, g.features, g.evidence, g.annotations) == (f["slide"], f["features"], f["evidence"], f["geojson"])
    assert by["S2"].features is None
    reasons = dict(res.unmatched)
    assert "no slide named 'S9'" in reasons[f["stray"]]
    assert "already has the feature file" in reasons[f["patches"]]


def test_dropping_a_file_attaches_to_the_open_slide(tmp_path):
    f = _project(tmp_path)
    entries, _ = collect([f["evidence"], f["stray"]])
    res = match_files(entries, current_stem="S1")
    assert len(res.groups) == 1 and res.groups[0].evidence == f["evidence"] and res.groups[0].slide is None
    assert [p for p, _ in res.unmatched] == [f["stray"]]


def test_files_without_a_slide_group_by_their_own_stem(tmp_path):
    f = _project(tmp_path)
    entries, problems = collect([f["features"], f["evidence"], tmp_path / "nope.svs"])
    assert [p.name for p, _ in problems] == ["nope.svs"]
    res = match_files(entries)
    assert len(res.groups) == 1 and res.groups[0].features == f["features"] and res.groups[0].evidence == f["evidence"]


def test_single_checkpoint_applies_to_every_group(tmp_path):
    f = _project(tmp_path)
    ck = tmp_path / "model.pt"
    ck.write_bytes(b"x")
    entries, _ = collect([f["slide"], f["other_slide"], ck])
    res = match_files(entries)
    assert all(g.checkpoint == ck for g in res.groups)
