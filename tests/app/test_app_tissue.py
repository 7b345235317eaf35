"""Tissue layer, clip to tissue, smoothing and filled/outlined subsets from the layers dock."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt

from core.review.layers import RegionLayer, ScalarLayer


def _select(panel, name):
    for i in range(panel.list.count()):
        if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
            panel.list.setCurrentRow(i)
            return
    raise AssertionError(name)


def test_detect_tissue_runs_off_the_gui_thread_and_becomes_a_layer(window, demo_project, qtbot, monkeypatch):
    import core.extract.tissue as tissue_mod

    threads = []
    real = tissue_mod.detect_tissue

    def spy(reader, **kw):
        threads.append(threading.current_thread())
        return real(reader, **kw)

    monkeypatch.setattr(tissue_mod, "detect_tissue", spy)
    window.open_paths([demo_project["root"]])
    s = window.session
    with qtbot.waitSignal(window.tissue_detected, timeout=20000):
        window.layers_panel.tissue_button.click()
    assert threads and threads[0] is not threading.main_thread()
    assert s.tissue is not None and 0.05 < s.tissue.tissue_fraction < 0.95
    layer = s.layer("tissue")
    assert isinstance(layer, RegionLayer) and layer.geometry.area > 0
    # the outline's level-0 area matches the mask's area (within the tracing of pixel corners)
    sx, sy = s.tissue.downsample
    assert abs(layer.geometry.area - s.tissue.mask.sum() * sx * sy) < 0.03 * s.tissue.mask.sum() * sx * sy
    item = window.overlays.items["tissue"][0]
    assert item.path().boundingRect().width() > 0
    frac = s.tissue_fraction
    assert frac.shape == (s.bag.n_patches,) and frac.min() >= 0 and frac.max() <= 1
    assert (frac < 0.5).any() and (frac >= 0.5).any()  # the demo lattice covers background and tissue


def test_clip_to_tissue_hides_patches_below_half_tissue(window, demo_project, qtbot):
    window.open_paths([demo_project["root"]])
    s, panel = window.session, window.layers_panel
    _select(panel, "attention")
    s.update_layer("attention", visible=True)  # the demo opens with its gate map only
    before = window.overlays.items["attention"][0].image.copy()
    with qtbot.waitSignal(window.tissue_detected, timeout=20000):
        panel.clip.setChecked(True)  # no tissue yet: ticking the box asks for it
    assert s.layer("attention").settings.clip_to_tissue
    img = window.overlays.items["attention"][0].image
    frac = s.tissue_fraction
    low = s.grid.rasterise(np.where((frac < 0.5)[:, None], 255, 0).astype(np.uint8).repeat(4, 1))[..., 0] > 0
    high = s.grid.rasterise(np.where((frac >= 0.5)[:, None], 255, 0).astype(np.uint8).repeat(4, 1))[..., 0] > 0
    assert low.any() and (img[low, 3] == 0).all() and (before[low, 3] > 0).any()
    np.testing.assert_array_equal(img[high], before[high])  # tissue patches unchanged
    panel.clip.setChecked(False)
    np.testing.assert_array_equal(window.overlays.items["attention"][0].image, before)


def test_smoothing_spin_box_smooths_the_drawn_map(window, demo_project):
    from core.review.smoothing import smooth_scores

    window.open_paths([demo_project["root"]])
    s, panel = window.session, window.layers_panel
    _select(panel, "attention")
    s.update_layer("attention", norm="minmax", visible=True)
    before = window.overlays.items["attention"][0].image.copy()
    panel.smooth.setValue(2.0)
    assert s.layer("attention").settings.smooth_sigma == 2.0
    after = window.overlays.items["attention"][0].image
    assert not np.array_equal(before, after)
    # what is drawn is the colour of the smoothed scores
    from dataclasses import replace

    from app.viewer.overlay_layer import layer_rgba

    layer = s.layer("attention")
    plain = replace(layer, values=smooth_scores(s.grid, layer.values, 2.0),
                    settings=replace(layer.settings, smooth_sigma=0.0))
    expected = layer_rgba(plain)
    expected[:, 3] = np.where(expected[:, 3] > 0, 255, 0)  # the view draws opaque colours at the item's opacity
    np.testing.assert_array_equal(after, s.grid.rasterise(expected))
    assert window.overlays.items["attention"][0].opacity() == layer.settings.opacity
    # the colorbar (top visible map) states the smoothing in words
    for layer in s.layers:
        if isinstance(layer, ScalarLayer) and layer.name != "attention":
            s.update_layer(layer.name, visible=False)
    assert "smoothed σ = 2 patches" in window.view.colorbar.note
    bar = window.view.colorbar
    assert bar.note_lines()[1] == "smoothed σ = 2 patches" and bar.height() == 62 + 14
    panel.smooth.setValue(0.0)
    np.testing.assert_array_equal(window.overlays.items["attention"][0].image, before)
    assert "smoothed" not in window.view.colorbar.note


def test_filled_toggle_for_subsets_and_only_for_outlines(window, demo_project):
    window.open_paths([demo_project["root"]])
    s, panel = window.session, window.layers_panel
    _select(panel, "attention")
    assert not panel.filled.isEnabled() and panel.clip.isEnabled() and panel.smooth.isEnabled()
    _select(panel, "subset: gce")
    assert panel.filled.isEnabled() and not panel.clip.isEnabled() and not panel.smooth.isEnabled()
    item = window.overlays.items["subset: gce"][0]
    assert item.brush().style() == Qt.BrushStyle.NoBrush
    panel.filled.setChecked(True)
    assert s.layer("subset: gce").settings.filled
    item = window.overlays.items["subset: gce"][0]
    assert item.brush().style() == Qt.BrushStyle.SolidPattern and item.brush().color().alpha() > 0
    panel.filled.setChecked(False)
    assert window.overlays.items["subset: gce"][0].brush().style() == Qt.BrushStyle.NoBrush


def test_tissue_of_a_previous_slide_is_dropped(window, demo_project, qtbot, monkeypatch):
    window.open_paths([demo_project["slide"]])
    with qtbot.waitSignal(window.tissue_detected, timeout=20000):
        window.detect_tissue()
    assert window.session.tissue is not None and window.session.layer("tissue")
    window.open_paths([demo_project["slide"]])  # reopening starts a fresh review: tissue forgotten
    assert window.session.tissue is None and "tissue" not in [x.name for x in window.session.layers]
    # a detection still running when another slide opens never lands on the new slide
    import core.extract.tissue as tissue_mod

    done_before = window.session  # same session object, new slide each open
    gate, mask = threading.Event(), tissue_mod.detect_tissue(window.session.slide)

    def slow_detect(reader, **kw):
        assert gate.wait(20)
        return mask

    monkeypatch.setattr(tissue_mod, "detect_tissue", slow_detect)
    window.detect_tissue()
    job, ended = window.tissue_job, []
    job.finished.connect(lambda _: ended.append("finished"))
    job.failed.connect(ended.append)
    window.open_paths([demo_project["slide"]])
    gate.set()
    qtbot.waitUntil(lambda: bool(ended), timeout=20000)
    assert ended == ["finished"] and done_before.tissue is None
    assert "tissue" not in [x.name for x in window.session.layers]
