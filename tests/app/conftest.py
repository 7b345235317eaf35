"""Fixtures for the viewer's GUI tests: a demo project on the real CMU slide and a window."""

from __future__ import annotations

import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread(qapp):
    """Garbage collection on the GUI thread only, as in the application (:func:`app.application.gui_thread_gc`),
    plus a collection of the earlier tests' garbage (closed windows, menus) before and after each test.
    Left to Python's automatic GC, a dead Qt wrapper may be freed on the inference thread while a job
    runs; PySide then deletes it there while the GUI thread waits on the same Qt lock holding the GIL —
    a deadlock seen in test_flow_imported_model (gdb: GUI thread in QObject::~QObject via
    runDeletionInMainThread, InferenceThread in ~QObject waiting for the GIL)."""
    from app.application import gui_thread_gc

    gc.collect()
    guard = gui_thread_gc()
    yield
    guard.timer.stop()
    gc.enable()
    gc.collect()


@pytest.fixture(scope="session")
def demo_project(cmu_slide, tmp_path_factory):
    """A project folder: slides/<cmu>.svs (link), features/, evidence/, annotations/."""
    from testkit.review import demo_project_on

    return demo_project_on(cmu_slide, tmp_path_factory.mktemp("viewer_project"))


def _window(qtbot, tmp_path, *, review: bool, size: tuple[int, int]):
    """A main window built as ``evident view`` builds it, with its own settings file (never the user's)."""
    from PySide6.QtCore import QSettings

    from app.window_builder import build_main_window

    w = build_main_window(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                          tile_workers=2, review=review)
    w.resize(*size)
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def window(qtbot, tmp_path):
    """A main window without the Review menu's features (lighter), 1200 x 800."""
    w = _window(qtbot, tmp_path, review=False, size=(1200, 800))
    yield w
    w.close()


@pytest.fixture
def review_window(qtbot, tmp_path):
    """The main window as ``evident view`` builds it (Review menu, cohort browser), 1366 x 768."""
    w = _window(qtbot, tmp_path, review=True, size=(1366, 768))
    qtbot.waitExposed(w)
    yield w
    w.close()


@pytest.fixture(scope="session")
def demo_checkpoint(tmp_path_factory):
    """A real Evident checkpoint (ABMIL, 8 features per patch like the demo project, 2 classes)."""
    import torch

    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    torch.manual_seed(0)
    cfg = HostConfig(in_dim=8, n_outputs=2, hidden=16, attn_hidden=8)
    path = tmp_path_factory.mktemp("checkpoint") / "abmil.pt"
    save_checkpoint(path, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict(),
                                                     "task": "classification", "classes": ["benign", "tumour"]})
    return path
