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

    from app.window_builder import build_main_window

    w = build_main_window(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                          tile_workers=2, review=False)
    w.resize(1200, 800)
    qtbot.addWidget(w)
    w.show()
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
