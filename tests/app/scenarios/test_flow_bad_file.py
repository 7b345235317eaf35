"""Scenario: a reviewer mid-review (GCE subset selected, one Keep-only done) drops or opens files
that cannot be used; the review stays exactly as it was and each refusal names the file and why."""

from __future__ import annotations

import numpy as np
import torch

from core.evidence.evidence_file import read_evidence

from .review_input import click, drop, painted_spread


def _snapshot(window):
    s = window.session
    return {"slide": s.slide, "reader": window.view.reader, "files": s.files, "bag": s.bag,
            "layers": [x.name for x in s.layers], "history": list(s.history), "selection": s.selection.tolist(),
            "result": window.interventions.result_label.text(), "title": window.windowTitle()}


def _mid_review(window, qtbot, project, checkpoint):
    drop(window, [project["root"]])
    drop(window, [checkpoint])
    s, panel = window.session, window.interventions
    assert s.files.checkpoint == checkpoint
    click(panel.gce)
    with qtbot.waitSignal(panel.result_shown, timeout=30000):
        click(panel.keep)
    qtbot.waitUntil(lambda: window.view.tiles is not None and window.view.tiles.is_filled(), timeout=15000)
    return s, panel


def test_gce_button_selects_the_recovered_subset_not_attention_topk(review_window, gce_project, qtbot):
    drop(review_window, [gce_project["root"]])
    click(review_window.interventions.gce)
    from_file = read_evidence(gce_project["evidence"]).subsets
    sel = review_window.session.selection
    assert sel.tolist() == sorted(from_file["recovered"].indices.tolist())
    assert sel.tolist() != sorted(from_file["attention_topk"].indices.tolist())
    assert review_window.interventions.selection_label.text() == f"{sel.size} patches selected"


def test_subset_export_defaults_to_the_gce_subset(review_window, gce_project, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    drop(review_window, [gce_project["root"]])
    asked = {}

    def get_item(parent, title, label, items, current, editable):
        asked["default"] = items[current]
        return items[current], True

    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "s.geojson"), ""))
    review_window.review.actions["export_subset"].trigger()
    assert asked["default"] == "subset: recovered"
    import json

    doc = json.loads((tmp_path / "s.geojson").read_text())
    n = sum(f["properties"]["n_patches"] for f in doc["features"])
    assert n == gce_project["subsets"]["recovered"].size


def test_bad_files_leave_the_review_intact(review_window, gce_project, demo_checkpoint, qtbot, tmp_path):
    window = review_window
    s, panel = _mid_review(window, qtbot, gce_project, demo_checkpoint)
    before = _snapshot(window)
    assert len(before["history"]) == 1 and painted_spread(window.view) > 10

    broken = tmp_path / "broken.svs"  # unreadable slide, dropped
    broken.write_bytes(b"\x00garbage")
    drop(window, [broken])
    assert _snapshot(window) == before
    assert "broken.svs" in window.status_text.text() and "kept" in window.status_text.text()

    window.open_paths([broken])  # the same through File > Open
    assert _snapshot(window) == before

    bag_pt = tmp_path / "other_slide.pt"  # a .pt feature bag, not a model
    torch.save(torch.zeros(7, 8), bag_pt)
    drop(window, [bag_pt])
    assert _snapshot(window) == before
    text = window.status_text.text()
    assert "other_slide.pt" in text and "tensor of shape (7, 8)" in text and "feature bag" in text

    other = tmp_path / "broken_features.h5"  # not HDF5 at all
    other.write_bytes(b"nope")
    drop(window, [other])
    assert _snapshot(window) == before
    assert "broken_features.h5" in window.status_text.text()

    # the review still works: the view paints the slide and Keep only runs on the kept model
    assert painted_spread(window.view) > 10
    click(panel.gce)
    with qtbot.waitSignal(panel.result_shown, timeout=30000):
        click(panel.remove)
    assert len(s.history) == 2 and s.files.checkpoint == demo_checkpoint


def test_out_of_memory_has_a_message(review_window, gce_project, qtbot, monkeypatch):
    import core.slide.reader as reader

    drop(review_window, [gce_project["root"]])
    before = _snapshot(review_window)

    def no_memory(path):
        raise MemoryError()

    monkeypatch.setattr(reader, "open_slide", no_memory)
    drop(review_window, [gce_project["slide"]])
    assert _snapshot(review_window) == before
    text = review_window.status_text.text()
    assert str(gce_project["slide"]) in text and "not enough memory" in text


def test_evidence_file_alone_shows_its_maps(review_window, gce_project, qtbot):
    drop(review_window, [gce_project["evidence"]])
    s = review_window.session
    assert s.bag is None and s.grid is not None and s.files.evidence == gce_project["evidence"]
    assert {"attention", "gate", "subset: recovered", "subset: attention_topk"} <= {x.name for x in s.layers}
    n = read_evidence(gce_project["evidence"]).n_patches
    assert s.n_patches == n
    click(review_window.interventions.gce)
    assert s.selection.size == gce_project["subsets"]["recovered"].size
    click(review_window.interventions.invert)
    assert s.selection.size == n - gce_project["subsets"]["recovered"].size
    drop(review_window, [gce_project["features"]])  # then the features: interventions become possible
    assert s.bag is not None and np.array_equal(s.grid.coords, s.bag.coords)
