"""Scenario: opening the demo. The workspace folder (File > Open Folder) and the file list that
``evident demo`` hands the viewer both open a positive slide with its evidence, annotations and the
model of the fold that held it out, load the audit into the cohort browser, and say nothing is wrong
(zero warnings); Keep only runs at once."""

from __future__ import annotations

import pytest

from core.commands import build_parser
from core.demo.opening import demo_view_files
from core.demo.stages import command_runner

from .review_input import click, painted_spread


def _problems(session):
    return [m for m in session.messages if m[0] in ("warning", "error")]


def _check_opened(window, qtbot, ws):
    s = window.session
    assert _problems(s) == []
    assert s.files.stem == "demo_02"  # the positive slide (demo_01 is negative)
    assert s.files.checkpoint is not None and s.files.checkpoint.parent.name == "fold_0_1"
    assert s.files.evidence is not None and s.files.annotations is not None and s.bag is not None
    assert window.review.cohort.model.rowCount() == 2 and window.review.docks["cohort"].isVisible()
    qtbot.waitUntil(lambda: window.view.tiles is not None and window.view.tiles.is_filled(), timeout=15000)
    assert painted_spread(window.view) > 10
    panel = window.interventions
    click(panel.gce)
    with qtbot.waitSignal(panel.result_shown, timeout=30000):
        click(panel.keep)
    assert len(s.history) == 1 and _problems(s) == []


def test_open_demo_workspace_folder(review_window, demo_workspace, qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(demo_workspace))
    open_folder = next(a for a in review_window.menuBar().actions()[0].menu().actions()
                       if a.text().startswith("Open &Folder"))
    open_folder.trigger()
    _check_opened(review_window, qtbot, demo_workspace)


def test_open_the_files_evident_demo_passes(review_window, demo_workspace, qtbot):
    files = demo_view_files(demo_workspace)
    assert files[-1] == demo_workspace / "audit" and len(files) == 6
    review_window.open_paths(files)  # what app.application.run does with `evident demo`'s list
    _check_opened(review_window, qtbot, demo_workspace)


@pytest.mark.slow
def test_real_demo_opens_without_warnings(review_window, cmu_slide, qtbot, tmp_path):
    from core.demo.cohort import CohortConfig
    from core.demo.pipeline import DemoConfig, run_demo

    small = DemoConfig(cohort=CohortConfig(n_slides=8, grid=(8, 8), seed=1), folds=2, epochs=10, hidden=32,
                       attn_hidden=16)
    run = run_demo(command_runner(build_parser), tmp_path / "ws", small, echo=lambda _s: None)
    review_window.open_paths(run.view_files)
    s = review_window.session
    assert _problems(s) == []
    labels = __import__("json").loads((tmp_path / "ws" / "cohort" / "cohort.json").read_text())["labels"]
    assert labels[s.files.stem] == "positive" and s.files.checkpoint is not None
    assert s.files.annotations is not None and review_window.review.cohort.model.rowCount() == 8
    review_window.open_paths([tmp_path / "ws"])  # the workspace folder opens the same slide
    assert _problems(s) == [] and labels[s.files.stem] == "positive"
