"""Scenario: the Layers dock while files are opened (real clicks on the layer list)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.review.layers import ScalarLayer, SubsetLayer


@pytest.fixture(scope="module")
def explain_project(demo_project, tmp_path_factory):
    """The demo slide and annotations with an ``evident explain``-like evidence file: 7 maps, gates, 3 subsets."""
    from core.data.bags import read_bag
    from core.evidence.evidence_file import Evidence, Subset, write_evidence

    root = tmp_path_factory.mktemp("explain_project")
    for sub in ("slides", "features", "evidence", "annotations"):
        (root / sub).mkdir()
    (root / "slides" / demo_project["slide"].name).symlink_to(demo_project["slide"])
    shutil.copy(demo_project["features"], root / "features" / demo_project["features"].name)
    shutil.copy(demo_project["annotations"], root / "annotations" / demo_project["annotations"].name)
    bag = read_bag(demo_project["features"])
    n, rng = bag.n_patches, np.random.default_rng(1)
    scores = {k: rng.random(n) for k in ("attention", "gradient", "grad_x_input", "lrp", "single", "loo")}
    scores["ig"] = rng.normal(size=n)
    subsets = {k: Subset(np.sort(rng.choice(n, 30, replace=False)).astype(np.int64), "test")
               for k in ("recovered", "threshold", "attention_topk")}
    write_evidence(root / "evidence" / f"{bag.slide_id}_evidence.h5",
                   Evidence(slide_id=bag.slide_id, coords=bag.coords, classes=("a", "b"), predicted_class=1,
                            scores=scores, gates=rng.random(n), subsets=subsets, model="gce"))
    return root


def _click_row(panel, name: str, qtbot) -> None:
    names = [panel.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.list.count())]
    item = panel.list.item(names.index(name))
    panel.list.scrollToItem(item)
    qtbot.wait(20)  # let the list lay out its rows
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.list.visualItemRect(item).center())
    qtbot.wait(20)


def test_opening_files_with_a_lower_row_selected_raises_nothing(window, demo_project, explain_project, qtbot):
    """Regression: a KeyError ('subset: …') came out of the layers panel when a new slide group was
    opened while a row other than the first was selected (pytest-qt fails the test on it)."""
    panel = window.layers_panel
    window.open_paths([explain_project])
    _click_row(panel, "subset: recovered", qtbot)
    assert panel.current_name() == "subset: recovered"
    window.open_paths([demo_project["root"]])  # a group without the explain subsets
    names = {x.name for x in window.session.layers}
    assert "subset: recovered" not in names and panel.current_name() in names
    assert panel.list.count() == len(names)
    _click_row(panel, "subset: gce", qtbot)
    window.open_paths([explain_project])
    assert panel.current_name() in {x.name for x in window.session.layers}
    # the settings shown are the current layer's
    layer = window.session.layer(panel.current_name())
    assert panel.opacity.value() == round(100 * layer.settings.opacity)


def _window_with_review(qtbot, tmp_path, size=(1280, 720)):
    from PySide6.QtCore import QSettings

    from app.window_builder import build_main_window

    w = build_main_window(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), tile_workers=2)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.resize(*size)
    return w


def _rgb(image) -> np.ndarray:
    from PySide6.QtGui import QImage

    img = image.convertToFormat(QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return a[:, : 3 * img.width()].reshape(img.height(), img.width(), 3).astype(int)


def test_default_overlays_one_map_half_opacity_subsets_in_distinct_colours(qtbot, tmp_path, explain_project):
    w = _window_with_review(qtbot, tmp_path)
    w.open_paths([explain_project])
    qtbot.waitUntil(w.view.is_filled, timeout=10000)
    s = w.session
    maps = [x for x in s.layers if isinstance(x, ScalarLayer)]
    assert len(maps) == 8 and [x.name for x in maps if x.settings.visible] == ["gate"]  # GCE model: the gates
    assert s.layer("gate").settings.opacity == 0.5 and w.overlays.items["gate"][0].opacity() == 0.5
    assert w.layers_panel.current_name() == "gate" and s.current_layer == "gate"  # the map on show is selected
    drawn = [n for n, items in w.overlays.items.items() if items and isinstance(s.layer(n), ScalarLayer)]
    assert drawn == ["gate"]
    subsets = [x for x in s.layers if isinstance(x, SubsetLayer)]
    colours = {x.name: x.settings.color for x in subsets}
    assert len(set(colours.values())) == 3 and all(x.settings.visible and not x.settings.filled for x in subsets)
    # the legend on the view names each outline and paints its colour
    legend = w.legend
    assert legend.isVisible() and {n for n, _ in legend.entries} >= set(colours)
    pixels = _rgb(legend.grab().toImage())
    for name, colour in colours.items():
        row = [n for n, _ in legend.entries].index(name)
        y = 3 + legend._ROW * row + 8
        assert np.abs(pixels[y, 12] - np.array(colour)).max() <= 3, (name, pixels[y, 12], colour)
    # the layer list shows the same colour on the subset rows
    panel = w.layers_panel
    for i in range(panel.list.count()):
        name = panel.list.item(i).data(Qt.ItemDataRole.UserRole)
        if name in colours:
            icon = panel.list.item(i).icon().pixmap(12, 12).toImage()
            assert icon.pixelColor(6, 6).getRgb()[:3] == colours[name]
    # the slide stays visible under the half-opaque map: the view is not one flat colour over the tissue
    view = _rgb(w.view.graphics.grab().toImage())
    assert view.std(axis=(0, 1)).mean() > 10
    w.close()


def _colorbar_strip(w) -> np.ndarray:
    """(238, 3) colours painted across the colorbar's gradient strip (drawn at x 6..244, y 18..30)."""
    return _rgb(w.view.colorbar.grab().toImage())[24, 6:244]


def test_colorbar_follows_the_layer_selected_in_the_panel(qtbot, tmp_path, explain_project):
    from core.review.normalise import colormap_lut

    w = _window_with_review(qtbot, tmp_path)
    w.open_paths([explain_project])
    panel, cb = w.layers_panel, w.view.colorbar
    _click_row(panel, "ig", qtbot)
    QTest.keyClick(panel.list, Qt.Key.Key_Space)  # tick its box: show the IG map
    qtbot.waitUntil(lambda: w.session.layer("ig").settings.visible, timeout=3000)
    assert w.session.current_layer == "ig"
    qtbot.waitUntil(lambda: cb.title.startswith("ig"), timeout=3000)
    strip = _colorbar_strip(w)
    rdbu, viridis = colormap_lut("RdBu_r")[:, :3].astype(int), colormap_lut("viridis")[:, :3].astype(int)
    assert np.abs(strip[2] - rdbu[2]).max() <= 8 and np.abs(strip[-3] - rdbu[-3]).max() <= 8
    assert np.abs(strip[2] - viridis[2]).max() > 40
    assert w.review.exports._top_scalar().name == "ig"  # the thresholded-map export follows too
    _click_row(panel, "gate", qtbot)
    qtbot.waitUntil(lambda: cb.title.startswith("gate"), timeout=3000)
    strip = _colorbar_strip(w)
    assert np.abs(strip[2] - viridis[2]).max() <= 8 and np.abs(strip[-3] - viridis[-3]).max() <= 8
    assert "lowest" in cb.ends and "percentile rank" in cb.note
    _click_row(panel, "ig", qtbot)
    qtbot.waitUntil(lambda: cb.title.startswith("ig"), timeout=3000)
    _click_row(panel, "subset: recovered", qtbot)  # not a map: the top visible map (gate, above ig)
    qtbot.waitUntil(lambda: cb.title.startswith("gate"), timeout=3000)
    w.close()


def _drag(slider, qtbot, to_values) -> None:
    """Press the slider's handle, move the mouse through ``to_values``, release (real mouse events)."""
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderHandle, slider)
    groove = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderGroove, slider)
    span = groove.width() - handle.width()
    grab_dx = handle.center().x() - handle.left()

    def x_of(value):
        return groove.left() + grab_dx + round(span * (value - slider.minimum()) / (slider.maximum() - slider.minimum()))

    y = handle.center().y()
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, pos=handle.center())
    assert slider.isSliderDown()
    for v in to_values:
        QTest.mouseMove(slider, pos=handle.center().__class__(x_of(v), y))
        qtbot.wait(1)
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=handle.center().__class__(x_of(to_values[-1]), y))


def test_dragging_opacity_and_threshold_is_throttled_and_reuses_the_normalised_map(qtbot, tmp_path, demo_project):
    from core.review.normalise import colormap_lut

    w = _window_with_review(qtbot, tmp_path)
    w.open_paths([demo_project["root"]])
    s, panel = w.session, w.layers_panel
    _click_row(panel, "gate", qtbot)
    s.update_layer("gate", norm="minmax")
    updates = []
    s.layer_changed.connect(updates.append)
    computed = dict(w.overlays.cache.computed)
    image_before = w.overlays.items["gate"][0].image.copy()
    values = list(range(50, 101, 2))
    _drag(panel.opacity, qtbot, values)
    assert s.layer("gate").settings.opacity == 1.0 and panel.opacity.value() == 100
    assert 1 <= len(updates) < len(values)  # throttled: fewer session updates than mouse moves
    assert w.overlays.cache.computed == computed  # nothing recoloured for an opacity drag
    item = w.overlays.items["gate"][0]
    assert item.opacity() == 1.0 and np.array_equal(item.image, image_before)
    # painted: the top patch shows the top colour of the map, fully opaque
    top = int(np.argmax(s.layer("gate").values))
    ps = s.grid.patch_size_level0_px
    x, y = (float(v) + ps / 2 for v in s.grid.coords[top])
    w.view.set_scale(0.25, centre=(x, y))
    qtbot.waitUntil(w.view.is_filled, timeout=10000)
    vb = w.view.view_box
    from PySide6.QtCore import QPointF

    p = w.view.graphics.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
    painted = w.view.graphics.grab().toImage().pixelColor(p.x(), p.y())
    assert max(abs(a - b) for a, b in zip(painted.getRgb()[:3], colormap_lut("viridis")[255, :3])) <= 2
    updates.clear()
    _drag(panel.threshold, qtbot, list(range(0, 81, 2)))
    assert s.layer("gate").settings.threshold == 0.8
    assert 1 <= len(updates) < 41
    assert w.overlays.cache.computed["normalise"] == computed["normalise"]  # the normalised map is reused
    shown = w.overlays.items["gate"][0].image[..., 3] > 0
    assert 0 < shown.sum() < (s.grid.index >= 0).sum()
    w.close()
