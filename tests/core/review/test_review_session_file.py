"""Save / restore of a review session, moved files, and bad session files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.errors import EvidentError
from core.review.difference import difference_layer
from core.review.session import InterventionRecord, ReviewSession
from core.review.session_file import (
    missing_files,
    read_session,
    remap,
    restore_session,
    save_session,
)


def _edit(s):
    s.update_layer("attention", colormap="magma", opacity=0.8, threshold=0.2)
    s.add_layer(difference_layer(s.layer("attention"), s.layer("ig")))
    s.move_layer("gate", 0)
    s.set_selection(np.array([3, 5, 8]))
    s.push_intervention(InterventionRecord("keep", np.array([3, 5, 8]), np.array([0.4, 0.6]), np.array([0.2, 0.8]),
                                           ("benign", "tumour"), 0.2, (), {"S": -0.2, "N": 0.1}))


def test_round_trip(opened, tmp_path):
    s = opened
    _edit(s)
    path = save_session(tmp_path / "review.json", s, view=(10.0, 20.0, 500.0, 700.0), extras={"compare": ["ig"]})
    doc = read_session(path)
    assert doc["files"]["slide"].endswith(".svs") and missing_files(doc) == []
    t = ReviewSession()
    view, problems = restore_session(t, doc)
    assert problems == [] and view == (10.0, 20.0, 500.0, 700.0) and doc["extras"] == {"compare": ["ig"]}
    assert [x.name for x in t.layers] == [x.name for x in s.layers]
    assert t.layer("attention").settings == s.layer("attention").settings
    np.testing.assert_allclose(t.layer("attention − ig").values, s.layer("attention − ig").values)
    assert t.layer("attention − ig").settings.colormap == "RdBu_r"
    assert t.selection.tolist() == [3, 5, 8]
    assert len(t.history) == 1 and t.history[0].snr == {"S": -0.2, "N": 0.1}
    np.testing.assert_allclose(t.history[0].probs_after, [0.2, 0.8])
    t.close()


def test_a_regression_record_keeps_its_values(opened, tmp_path):
    s = opened
    s.push_intervention(InterventionRecord("remove", np.array([1, 2]), np.array([0.3]), np.array([-0.5]), ("value",),
                                           -0.8, (), {"S": 0.1, "N": 0.8}, 0.3, "cpu", (53.0, 45.0)))
    t = ReviewSession()
    _, problems = restore_session(t, read_session(save_session(tmp_path / "r.json", s)))
    assert problems == [] and t.history[-1].values == (53.0, 45.0)
    assert t.history[-1].summary().startswith("removed 2 patches: predicted value 53 → 45 (Δ -8; -0.800 target SD).")
    t.close()


def test_moved_files_are_listed_and_remapped(opened, review_project, tmp_path):
    moved = tmp_path / "moved"
    for key in ("features", "evidence"):
        (moved / key).mkdir(parents=True)
    f2 = shutil.copy(review_project["features"], moved / "features")
    shutil.copy(review_project["evidence"], moved / "evidence")
    path = save_session(tmp_path / "r.json", opened)
    doc = json.loads(path.read_text())
    doc["files"]["features"] = str(tmp_path / "old" / "features" / review_project["features"].name)
    doc["files"]["evidence"] = str(tmp_path / "old" / "evidence" / review_project["evidence"].name)
    assert [k for k, _ in missing_files(doc)] == ["features", "evidence"]
    t = ReviewSession()
    _, problems = restore_session(t, doc)  # without relocating: the slide opens, the rest is named
    assert t.slide is not None and t.bag is None and len(problems) == 2 and "file not found" in problems[0]
    fixed = remap(doc, {doc["files"]["features"]: str(f2)})  # the sibling evidence file is found too
    assert missing_files(fixed) == [] and fixed["files"]["evidence"].startswith(str(moved))
    _, problems = restore_session(t, fixed)
    assert problems == [] and t.bag is not None and "attention" in [x.name for x in t.layers]
    t.close()


def test_bad_session_files(tmp_path, opened, monkeypatch):
    p = tmp_path / "x.json"
    with pytest.raises(EvidentError, match="not found"):
        read_session(p)
    p.write_text("{oops")
    with pytest.raises(EvidentError, match="not valid JSON"):
        read_session(p)
    p.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(EvidentError, match="not an Evident review session"):
        read_session(p)
    p.write_text(json.dumps({"format": "evident-review-session", "version": 99, "files": {}, "layers": []}))
    with pytest.raises(EvidentError, match="newer"):
        read_session(p)
    # an unwritable folder: one clear error, the existing file untouched
    import os

    good = tmp_path / "keep.json"
    good.write_text("previous")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(EvidentError, match="not writable"):
        save_session(good, opened)
    assert good.read_text() == "previous"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.undo()
    with pytest.raises(EvidentError, match="cannot create output folder"):
        save_session(blocker / "s.json", opened)


def test_layers_stored_by_an_earlier_evident_load_as_their_types(opened, tmp_path):
    """Layer entries as session files have always stored them (a ``kind`` word and the data inline)
    come back as the distinct layer types; saving again writes the same words."""
    from core.review.layers import RegionLayer, ScalarLayer, SubsetLayer

    doc = json.loads(json.dumps(read_session(save_session(tmp_path / "a.json", opened))))
    settings = {"visible": True, "colormap": "viridis", "norm": "rank", "vmin": None, "vmax": None, "lo_pct": 1.0,
                "hi_pct": 99.0, "opacity": 0.5, "threshold": 0.0, "filled": False, "color": [255, 220, 0],
                "clip_to_tissue": False, "smooth_sigma": 0.0}
    n = opened.n_patches
    doc["layers"] += [
        {"name": "old map", "kind": "scalar", "units": "score", "source": "gone", "settings": settings, "file": None,
         "values": [None] + [float(i) for i in range(1, n)]},
        {"name": "old subset", "kind": "subset", "units": "patches", "source": "gone", "settings": settings,
         "file": None, "indices": [4, 1]},
        {"name": "old region", "kind": "regions", "units": "region", "source": "gone", "settings": settings,
         "file": None, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [8, 0], [8, 8], [0, 0]]]}},
    ]
    t = ReviewSession()
    _, problems = restore_session(t, doc)
    assert problems == []
    m, k, r = t.layer("old map"), t.layer("old subset"), t.layer("old region")
    assert (type(m), type(k), type(r)) == (ScalarLayer, SubsetLayer, RegionLayer)
    assert np.isnan(m.values[0]) and m.values[-1] == n - 1 and k.indices.tolist() == [4, 1]
    assert r.geometry.area == pytest.approx(32.0)
    again = read_session(save_session(tmp_path / "b.json", t))
    kinds = {x["name"]: x["kind"] for x in again["layers"]}
    assert (kinds["old map"], kinds["old subset"], kinds["old region"]) == ("scalar", "subset", "regions")
    t.close()
