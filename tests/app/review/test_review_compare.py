"""The compare view: synchronised panes, unlock, swipe clipping, difference layer, agreement numbers."""

from __future__ import annotations

import numpy as np
import pytest

from core.review.agreement import agreement


@pytest.fixture
def compare(qtbot, demo_project):
    from app.compare.compare_view import CompareView
    from core.review.session import ReviewSession

    s = ReviewSession()
    s.open([demo_project["slide"], demo_project["features"], demo_project["evidence"]])
    view = CompareView(s, panes=2, tile_workers=1)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.close()
    s.close()


def _centre_scale(v):
    x0, y0, x1, y1 = v.viewport()
    return (x0 + x1) / 2, (y0 + y1) / 2, v.scale()


def test_panes_follow_each_other_until_unlocked(compare, qtbot):
    a, b = compare.panes[0].view, compare.panes[1].view
    a.set_scale(0.5, (900.0, 1200.0))
    ca, cb = _centre_scale(a), _centre_scale(b)
    assert cb == pytest.approx(ca, rel=1e-6) and ca[:2] == pytest.approx((900.0, 1200.0))
    b.pan(0.3, 0.0)  # the other way round, too
    assert _centre_scale(a) == pytest.approx(_centre_scale(b), rel=1e-6)
    assert a.camera is b.camera is compare.sync.camera  # locked: one camera, no copies between views
    compare.lock.setChecked(False)
    assert a.camera is not b.camera and compare.sync.camera not in (a.camera, b.camera)
    before = _centre_scale(b)
    a.set_scale(1.0, (300.0, 300.0))
    assert _centre_scale(b) == pytest.approx(before)
    compare.lock.setChecked(True)  # re-locking aligns to the last moved view
    assert _centre_scale(b) == pytest.approx(_centre_scale(a), rel=1e-6)
    compare.count.setValue(4)
    assert len(compare.panes) == 4 and _centre_scale(compare.panes[3].view)[:2] == pytest.approx(_centre_scale(a)[:2])
    compare.count.setValue(2)
    assert len(compare.panes) == 2 and len(compare.sync.views) == 2


def test_agreement_numbers_match_core(compare):
    s = compare.session
    compare.panes[0].set_layer("attention")
    compare.panes[1].set_layer("gate")
    compare.k.setValue(20)
    ref = agreement(s.layer("attention").values, s.layer("gate").values, 20)
    text = compare.agreement_text.text()
    assert "A: attention  vs  B: gate" in text and f"Jaccard {ref.jaccard:.3f}" in text
    assert f"{ref.spearman:+.3f}" in text


def test_difference_layer_added_and_shown(compare):
    s = compare.session
    compare.panes[0].set_layer("attention")
    compare.panes[1].set_layer("ig")
    name = compare.add_difference("rank")
    assert name == "attention − ig" and len(compare.panes) == 3 and compare.panes[2].layer_name == name
    assert name not in [x.name for x in s.layers]  # kept in the compare window only
    d = compare.layer(name).values
    from core.review.normalise import normalise

    np.testing.assert_allclose(d, normalise(s.layer("attention").values, "rank") - normalise(s.layer("ig").values, "rank"))
    assert compare.panes[2].overlays.items[name]  # drawn in the pane


def test_swipe_clips_b_left_of_the_line(compare, qtbot):
    s = compare.session
    n = s.bag.n_patches
    from core.review.layers import scalar_layer

    s.add_layer(scalar_layer("flat a", np.ones(n)).with_settings(colormap="viridis", opacity=1.0))
    s.add_layer(scalar_layer("flat b", np.ones(n)).with_settings(colormap="magma", opacity=1.0))
    a = compare.panes[0]
    a.set_layer("flat a")
    compare.panes[1].set_layer("flat b")
    compare.swipe.setChecked(True)
    assert a.swipe is not None and a.swipe_layer == "flat b"
    w, h = s.slide.dimensions
    a.view.set_scale(a.view.view_box.width() / (w * 0.6), (w / 2, h / 2))
    a.swipe.set_position(w / 2)
    assert a.swipe.clip.rect().right() == pytest.approx(w / 2)
    items = a.swipe_overlays.items["flat b"]
    assert items and all(it.parentItem() is a.swipe.clip for it in items)
    assert a.swipe.clip_right.rect().left() == pytest.approx(w / 2)  # A only right of the line: no double blend
    assert all(it.parentItem() is a.swipe.clip_right for it in a.overlays.items["flat a"])
    img = a.view.graphics.grab().toImage()
    vb = a.view.view_box
    from PySide6.QtCore import QPointF

    def colour(x):
        p = a.view.graphics.mapFromScene(vb.mapViewToScene(QPointF(x, h / 2)))
        c = img.pixelColor(p.x(), p.y())
        return c.red(), c.green(), c.blue()

    left, right = colour(w / 2 - 300), colour(w / 2 + 300)
    from core.review.normalise import colormap_lut

    assert np.abs(np.subtract(left, colormap_lut("magma")[128, :3])).max() <= 3  # B left of the line
    assert np.abs(np.subtract(right, colormap_lut("viridis")[128, :3])).max() <= 3  # A right of it
    a.swipe.set_position(w / 4)  # dragging the curtain moves both clips
    assert a.swipe.clip.rect().right() == pytest.approx(w / 4) == a.swipe.clip_right.rect().left()
    compare.swipe.setChecked(False)
    assert a.swipe is None and all(it.parentItem() is not None for it in a.overlays.items["flat a"])


def test_compare_window_opens_within_the_screen(qtbot, demo_project):
    from app.compare.compare_view import CompareView
    from core.review.session import ReviewSession

    s = ReviewSession()
    s.open([demo_project["slide"], demo_project["features"], demo_project["evidence"]])
    view = CompareView(s, panes=2, tile_workers=1)
    qtbot.addWidget(view)
    avail = view.screen().availableGeometry()
    assert view.width() <= avail.width() and view.height() <= avail.height()
    view.close()
    s.close()
