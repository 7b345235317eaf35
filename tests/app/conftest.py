"""Fixtures for the viewer's GUI tests: a demo project on the real CMU slide and a window."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_project(cmu_slide, tmp_path_factory):
    """A project folder: slides/<cmu>.svs (link), features/, evidence/, annotations/."""
    from core.review.demo import write_demo_project

    root = tmp_path_factory.mktemp("viewer_project")
    paths = write_demo_project(cmu_slide, root)
    (root / "slides").mkdir()
    paths["slide"] = root / "slides" / cmu_slide.name
    paths["slide"].symlink_to(cmu_slide)
    paths["root"] = root
    return paths


@pytest.fixture
def window(qtbot, tmp_path):
    """A main window with its own settings file (never the user's)."""
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow

    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), tile_workers=2)
    w.resize(1200, 800)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
