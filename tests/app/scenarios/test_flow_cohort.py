"""Scenario: from the cohort browser to a slide and to the next failure; each opened slide brings its
evidence, its fold's model and its annotations, so Keep only runs at once."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .review_input import click


def _load_audit(window, folder, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    click(window.review.cohort.load_button)


def _row_of(table, slide_id) -> int:
    m = table.model()
    return next(r for r in range(m.rowCount()) if m.index(r, 0).data() == slide_id)


def test_cohort_row_then_next_failure_opens_everything(review_window, demo_workspace, qtbot, monkeypatch):
    w, s = review_window, review_window.session
    _load_audit(w, demo_workspace / "audit", monkeypatch)
    browser = w.review.cohort
    assert browser.model.rowCount() == 2
    table = browser.table
    # double-click the first (non-failure) slide
    at = table.visualRect(table.model().index(_row_of(table, "demo_01"), 0)).center()
    # a real double click: press/release, then the second press arrives as a double-click event
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    qtbot.waitUntil(lambda: s.files is not None and s.files.stem == "demo_01", timeout=10000)
    ws = demo_workspace
    assert s.files.checkpoint == ws / "audit" / ".." / "models" / "gce" / "fold_0_0" / "model.pt"
    assert s.files.evidence is not None and s.files.annotations is not None and s.bag is not None
    assert "regions: Tumor" in [x.name for x in s.layers] and w.view.reader is s.slide
    # Ctrl+] : the next failure, demo_02, with the model of the fold that held it out
    QTest.keyClick(w, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: s.files.stem == "demo_02", timeout=10000)
    assert s.files.checkpoint.parent.name == "fold_0_1"
    assert s.files.evidence.name == "demo_02.evidence.h5" and s.files.annotations.name == "demo_02.geojson"
    assert w.windowTitle().endswith("demo_02") and w.view.reader is s.slide
    panel = w.interventions
    click(panel.gce)
    assert s.selection.size > 0
    with qtbot.waitSignal(panel.result_shown, timeout=30000):
        click(panel.keep)
    assert len(s.history) == 1 and panel.result_label.text().startswith("#1 kept only")
    assert s.messages == []  # not even "1 more slide(s) matched": the old slide is not a second group
