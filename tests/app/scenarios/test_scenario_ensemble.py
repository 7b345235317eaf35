"""Scenario: a slide opened with an ensemble evidence file (``evident explain --ensemble``): the mean,
spread and rank-spread maps are listed in the Layers dock; ticking the spread map paints it over the
slide in the sequential spread colormap and the colorbar says 'spread'."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .driver import grab
from .test_layout_layers_panel import _click_row, _colorbar_strip, _rgb, _window_with_review


@pytest.fixture(scope="module")
def ensemble_project(demo_project, tmp_path_factory):
    """The demo slide with an evidence file of 3 ABMIL members' attention maps (2 held the slide out)."""
    import torch

    from core.cohort.ensemble_evidence import ensemble_evidence
    from core.cohort.ensemble_runs import EnsembleMember
    from core.data.bags import read_bag
    from core.evidence.evidence_file import write_evidence
    from core.models.base import HostConfig
    from core.models.registry import build_host

    root = tmp_path_factory.mktemp("ensemble_project")
    for sub in ("slides", "features", "evidence"):
        (root / sub).mkdir()
    (root / "slides" / demo_project["slide"].name).symlink_to(demo_project["slide"])
    shutil.copy(demo_project["features"], root / "features" / demo_project["features"].name)
    bag = read_bag(demo_project["features"])
    models, members = {}, []
    for k in range(3):
        torch.manual_seed(k)
        cfg = HostConfig(in_dim=bag.features.shape[1], n_outputs=2, hidden=16, attn_hidden=8)
        name = f"run/fold_0_{k}"
        models[name] = build_host("abmil", cfg).eval()
        members.append(EnsembleMember(name, root / f"{k}.pt", frozenset({bag.slide_id} if k else set())))
    ev = ensemble_evidence(bag.slide_id, bag.features, bag.coords, members, models, ["attention"],
                           task="classification", classes=("benign", "tumour"), with_prediction=True)
    assert ev.score_attrs["attention_ensemble_std"]["n_members"] == 2
    write_evidence(root / "evidence" / f"{bag.slide_id}.evidence.h5", ev)
    return root


def test_ensemble_layers_are_listed_and_the_spread_is_painted(qtbot, tmp_path, ensemble_project):
    from core.review.normalise import colormap_lut

    w = _window_with_review(qtbot, tmp_path)
    w.open_paths([ensemble_project])
    qtbot.waitUntil(w.view.is_filled, timeout=15000)
    panel, cb, s = w.layers_panel, w.view.colorbar, w.session
    listed = [panel.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.list.count())]
    assert {"attention_ensemble_mean", "attention_ensemble_std", "attention_ensemble_rank_spread"} <= set(listed)
    _click_row(panel, "attention_ensemble_std", qtbot)
    QTest.keyClick(panel.list, Qt.Key.Key_Space)  # tick its box: show the spread map
    qtbot.waitUntil(lambda: s.layer("attention_ensemble_std").settings.visible, timeout=3000)
    qtbot.waitUntil(lambda: cb.title.startswith("attention_ensemble_std"), timeout=3000)
    assert "spread" in cb.title
    strip, magma = _colorbar_strip(w), colormap_lut("magma")[:, :3].astype(int)
    assert np.abs(strip[2] - magma[2]).max() <= 8 and np.abs(strip[-3] - magma[-3]).max() <= 8
    for name in [n for n in listed if n != "attention_ensemble_std" and s.layer(n).settings.visible]:
        _click_row(panel, name, qtbot)  # hide the other maps: only the spread is drawn
        QTest.keyClick(panel.list, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda n=name: not s.layer(n).settings.visible, timeout=3000)
    qtbot.waitUntil(w.view.is_filled, timeout=15000)
    qtbot.wait(50)
    painted, slide = grab(w.view).astype(int), grab(w.view, slide_only=True).astype(int)
    changed = np.abs(painted - slide).max(axis=2) > 20
    assert changed.mean() > 0.05, changed.mean()  # the spread overlay covers the tissue's patches
    assert _rgb(w.view.graphics.grab().toImage()).std(axis=(0, 1)).mean() > 10  # the slide shows through
    w.close()
