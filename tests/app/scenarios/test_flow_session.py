"""Scenario: results follow the history. Undoing every intervention, switching slides and
restoring a saved session each leave the result text and the bar chart matching the history."""

from __future__ import annotations

from .review_input import click, drop


def _bars(panel) -> int:
    import pyqtgraph as pg

    return sum(isinstance(x, pg.BarGraphItem) for x in panel.chart.getPlotItem().items)


def _intervene(panel, qtbot, button):
    with qtbot.waitSignal(panel.result_shown, timeout=30000):
        click(button)


def _keep_then_remove(window, project, checkpoint, qtbot):
    """Drop the project and its model, select the GCE subset, Keep only, then Remove (real clicks)."""
    drop(window, [project["root"], checkpoint])
    s, panel = window.session, window.interventions
    click(panel.gce)
    _intervene(panel, qtbot, panel.keep)
    _intervene(panel, qtbot, panel.remove)
    return s, panel


def test_undo_all_clears_the_result(review_window, gce_project, demo_checkpoint, qtbot):
    s, panel = _keep_then_remove(review_window, gce_project, demo_checkpoint, qtbot)
    assert "removed" in panel.result_label.text() and _bars(panel) == 2
    click(panel.undo)
    click(panel.undo)
    assert s.history == [] and panel.result_label.text() == "No intervention yet" and _bars(panel) == 0
    assert not panel.undo.isEnabled()


def test_undo_one_shows_the_remaining_result(review_window, gce_project, demo_checkpoint, qtbot):
    s, panel = _keep_then_remove(review_window, gce_project, demo_checkpoint, qtbot)
    assert panel.result_label.text().startswith("#2 removed")
    click(panel.undo)
    assert len(s.history) == 1 and s.history[0].action == "keep"
    assert panel.result_label.text() == "#1 " + s.history[0].summary() and _bars(panel) == 2


def test_switching_slides_clears_the_result(review_window, gce_project, demo_workspace, demo_checkpoint, qtbot):
    drop(review_window, [gce_project["root"], demo_checkpoint])
    panel = review_window.interventions
    click(panel.gce)
    _intervene(panel, qtbot, panel.keep)
    assert "kept only" in panel.result_label.text()
    drop(review_window, [demo_workspace / "cohort" / "slides" / "demo_01.tiff",
                         demo_workspace / "features" / "enc_v1" / "demo_01.h5"])
    assert review_window.session.files.stem == "demo_01"
    assert panel.result_label.text() == "No intervention yet" and _bars(panel) == 0 and panel.history.count() == 0


def test_restored_session_shows_its_last_result(review_window, gce_project, demo_checkpoint, qtbot, tmp_path,
                                                monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    s, panel = _keep_then_remove(review_window, gce_project, demo_checkpoint, qtbot)
    saved_text, saved = panel.result_label.text(), [r.summary() for r in s.history]
    path = tmp_path / "review.evident.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    review_window.review.actions["save_session"].trigger()
    assert path.exists()
    click(panel.undo)
    click(panel.undo)
    assert panel.result_label.text() == "No intervention yet"
    review_window.review.actions["open_session"].trigger()
    qtbot.waitUntil(lambda: len(s.history) == 2, timeout=10000)
    assert [r.summary() for r in s.history] == saved
    assert panel.result_label.text() == saved_text and _bars(panel) == 2 and panel.history.count() == 2
    assert f"re-predicted on {s.history[-1].device}" in saved_text
