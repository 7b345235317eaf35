"""Overlays in the view: exact placement on the patch grid, settings from the layers dock, colorbar."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from core.review.layers import ScalarLayer
from core.review.normalise import colormap_lut


def _open(window, demo_project):
    window.open_paths([demo_project["root"]])
    window.session.update_layer("attention", visible=True)  # the demo opens with its gate map only
    return window.session


def test_scalar_layer_is_one_image_on_the_patch_grid(window, demo_project):
    s = _open(window, demo_project)
    items = window.overlays.items["attention"]
    assert len(items) == 1 and isinstance(items[0], pg.ImageItem)
    img = items[0]
    r = img.mapRectToView(img.boundingRect())
    assert (r.x(), r.y(), r.width(), r.height()) == s.grid.rect
    assert img.image.shape == (*s.grid.shape, 4) and img.image.dtype == np.uint8
    # each image pixel's level-0 rectangle is its patch's rectangle
    ps = s.grid.patch_size_level0_px
    for i in (0, 7, s.bag.n_patches - 1):
        x, y = s.grid.coords[i]
        row, col = np.argwhere(s.grid.index == i)[0]
        p = img.mapToView(QPointF(col, row))
        assert (p.x(), p.y()) == (x, y)
        q = img.mapToView(QPointF(col + 1, row + 1))
        assert (q.x() - p.x(), q.y() - p.y()) == (ps, ps)


def test_rendered_pixels_match_patch_boundaries(window, demo_project, qtbot):
    s = _open(window, demo_project)
    for layer in s.layers:
        s.update_layer(layer.name, visible=layer.name == "attention")
    s.update_layer("attention", opacity=1.0, norm="minmax", colormap="viridis")
    att = s.layer("attention").values
    top = int(np.argmax(att))
    x, y = (float(v) for v in s.grid.coords[top])
    ps = s.grid.patch_size_level0_px
    v = window.view
    v.set_scale(0.25, centre=(x + ps / 2, y + ps / 2))  # a patch is 64 screen px
    qtbot.waitUntil(v.is_filled, timeout=10000)
    image = v.graphics.grab().toImage()
    vb = v.view_box

    def colour(px, py):
        sp = vb.mapViewToScene(QPointF(px, py))
        wp = v.graphics.mapFromScene(sp)
        c = image.pixelColor(wp.x(), wp.y())
        return c.red(), c.green(), c.blue()

    expected = tuple(int(c) for c in colormap_lut("viridis")[255, :3])
    inside = [(x + 3, y + 3), (x + ps - 3, y + 3), (x + 3, y + ps - 3), (x + ps - 3, y + ps - 3),
              (x + ps / 2, y + ps / 2)]
    for px, py in inside:
        assert max(abs(a - b) for a, b in zip(colour(px, py), expected)) <= 2, (px, py)
    outside = [(x - 3, y + ps / 2), (x + ps + 3, y + ps / 2), (x + ps / 2, y - 3), (x + ps / 2, y + ps + 3)]
    assert all(max(abs(a - b) for a, b in zip(colour(px, py), expected)) > 2 for px, py in outside)


def test_layers_dock_changes_reach_the_view(window, demo_project):
    s = _open(window, demo_project)
    panel = window.layers_panel
    names = [panel.list.item(i).data(256) for i in range(panel.list.count())]
    assert names == [x.name for x in reversed(s.layers)]
    panel.list.setCurrentRow(names.index("attention"))
    before = window.overlays.items["attention"][0].image.copy()
    panel.cmap.setCurrentText("magma")
    assert s.layer("attention").settings.colormap == "magma"
    after = window.overlays.items["attention"][0].image
    assert not np.array_equal(before, after)
    panel.opacity.setValue(80)
    assert s.layer("attention").settings.opacity == 0.8
    item = window.overlays.items["attention"][0]  # opacity is the item's; the colours stay opaque
    assert item.opacity() == 0.8 and item.image[..., 3].max() == 255
    panel.threshold.setValue(50)
    shown = window.overlays.items["attention"][0].image[..., 3] > 0
    assert 0 < shown.sum() < (s.grid.index >= 0).sum()
    panel.norm.setCurrentIndex(panel.norm.findData("minmax"))
    assert s.layer("attention").settings.norm == "minmax"
    item = panel.list.item(names.index("attention"))
    item.setCheckState(item.checkState().__class__.Unchecked)
    assert window.overlays.items["attention"] == [] and not s.layer("attention").settings.visible
    order = [x.name for x in s.layers]
    assert panel.current_name() == "attention"
    panel.up.click()
    assert [x.name for x in s.layers].index("attention") == order.index("attention") + 1
    assert list(window.overlays.items)[order.index("attention") + 1] == "attention"


def test_colorbar_states_units_and_normalisation(window, demo_project):
    s = _open(window, demo_project)
    cb = window.view.colorbar
    top = [x for x in s.layers if isinstance(x, ScalarLayer)][-1]
    assert cb.isVisible() and cb.title.startswith(top.name) and top.units in cb.title
    assert cb.note == top.settings.describe()
    s.update_layer(top.name, visible=False)
    nxt = [x for x in s.layers if isinstance(x, ScalarLayer) and x.settings.visible][-1]
    assert cb.title.startswith(nxt.name)


def test_subset_and_regions_are_outlines(window, demo_project):
    s = _open(window, demo_project)
    subset = window.overlays.items["subset: gce"][0]
    path = subset.path()
    g = s.layer("subset: gce")
    x, y = s.grid.coords[g.indices[0]] + s.grid.patch_size_level0_px / 2
    assert path.contains(QPointF(x, y))
    assert not path.contains(QPointF(-10, -10))
    assert window.overlays.items["regions: Tumor"][0].path().boundingRect().width() == 3 * s.grid.patch_size_level0_px


def test_hover_readout_in_status_bar(window, demo_project):
    s = _open(window, demo_project)
    i = int(np.argmax(s.layer("attention").values))
    x, y = s.grid.coords[i] + 5
    window._cursor(float(x), float(y))
    text = window.cursor_text.text()
    assert f"patch {i}" in text and "attention" in text and "rank 1" in text and "gate" in text and "µm" in text
    old_reader = window.view.reader
    window.open_paths([demo_project["slide"]])  # another slide (here: the same file opened anew)
    assert window.view.reader is not old_reader
    assert window.cursor_text.text() == ""  # no readout of the previous slide's patch left behind


def test_overlapping_patches_are_drawn_as_exact_rectangles(window, demo_project, tmp_path):
    from core.data.bag import FeatureBag
    from core.data.bags import write_bag
    from core.evidence.evidence_file import Evidence, write_evidence

    stem = demo_project["slide"].stem
    coords = np.array([[0, 0], [128, 0], [640, 384]], dtype=np.int64)  # stride 128 < patch 256: overlap
    write_bag(tmp_path / "features" / f"{stem}.h5", FeatureBag(np.zeros((3, 4), np.float32), coords, 256, stem))
    write_evidence(tmp_path / "evidence" / f"{stem}_evidence.h5",
                   Evidence(slide_id=stem, coords=coords, scores={"attention": np.array([0.1, 0.5, 0.9])}))
    window.open_paths([demo_project["slide"], tmp_path])
    s = window.session
    assert not s.grid.is_lattice
    s.update_layer("attention", norm="minmax", opacity=1.0)
    items = window.overlays.items["attention"]
    assert len(items) == 3  # one path per colour
    rects = sorted((r.x(), r.y(), r.width(), r.height()) for r in (it.path().boundingRect() for it in items))
    assert rects == [(0.0, 0.0, 256.0, 256.0), (128.0, 0.0, 256.0, 256.0), (640.0, 384.0, 256.0, 256.0)]
    top = [it for it in items if it.path().boundingRect().x() == 640.0][0]
    assert top.brush().color().getRgb()[:3] == tuple(int(v) for v in colormap_lut("viridis")[255, :3])
