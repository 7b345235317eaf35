"""Main-window navigation after real input on a 5-level slide: repeated zooms, presets, fit after a
resize, panning to every edge (keys and mouse drags). The painted view is checked against the slide."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from .driver import assert_matches_slide, drag, key, settle, wheel


def test_repeated_zoom_in_and_out_without_waiting_then_settled(opened, truth_reader, qtbot):
    view = opened
    for _ in range(3):
        for steps in (4, 4, 4, -4, -4, -4):  # bursts through the levels, no waiting in between
            wheel(view, qtbot, steps, at=(view.width() // 3, view.height() // 2))
            qtbot.wait(5)
        settle(view, qtbot)
        assert_matches_slide(view, truth_reader, "after a burst of zooms in and out")
    for _ in range(2):  # and waiting for every level on the way
        for steps in (5, 5, -5, -5):
            wheel(view, qtbot, steps)
            settle(view, qtbot)
            assert_matches_slide(view, truth_reader, f"after {steps:+d} wheel notches")


def _action(window, text):
    from PySide6.QtGui import QAction

    return next(a for a in window.findChildren(QAction) if a.text() == text)


@pytest.mark.parametrize("mag", ["2.5×", "5×", "20×", "1×"])
def test_magnification_presets_paint_the_slide(opened, window, truth_reader, qtbot, mag):
    view = opened
    wheel(view, qtbot, 8)  # from a zoomed-in view, so the preset returns to levels already visited
    settle(view, qtbot)
    _action(window, mag).trigger()
    settle(view, qtbot)
    assert view.scale() == pytest.approx(float(mag[:-1]) / 20.0, rel=1e-3)
    assert_matches_slide(view, truth_reader, f"preset {mag}")


def test_fit_with_f_after_a_resize(opened, window, truth_reader, qtbot):
    view = opened
    qtbot.waitActive(window)
    wheel(view, qtbot, 6)
    settle(view, qtbot)
    width = view.width()
    window.resize(1000, 650)
    qtbot.waitUntil(lambda: view.width() < width, timeout=5000)
    settle(view, qtbot)
    assert_matches_slide(view, truth_reader, "zoomed in, after the resize")
    key(window, qtbot, Qt.Key.Key_F)
    settle(view, qtbot)
    w, h = view.reader.dimensions
    x0, y0, x1, y1 = view.viewport()
    assert x0 <= 0 and y0 <= 0 and x1 >= w and y1 >= h
    assert_matches_slide(view, truth_reader, "after F")
    width = view.width()
    window.resize(1300, 850)  # a fitted view stays fitted through a resize
    qtbot.waitUntil(lambda: view.width() > width, timeout=5000)
    settle(view, qtbot)
    x0, y0, x1, y1 = view.viewport()
    assert x0 <= 0 and y0 <= 0 and x1 >= w and y1 >= h and min(x1 - x0 - w, y1 - y0 - h) < 0.1 * w
    assert_matches_slide(view, truth_reader, "fitted, after growing the window")


def test_pan_to_every_edge_with_keys_and_drags(opened, window, truth_reader, qtbot):
    view = opened
    wheel(view, qtbot, 7)
    settle(view, qtbot)
    assert view.tiles.current_level <= 1
    w, h = view.reader.dimensions
    view.setFocus()
    edges = {Qt.Key.Key_Left: lambda v: v[0] < 0, Qt.Key.Key_Up: lambda v: v[1] < 0,
             Qt.Key.Key_Right: lambda v: v[2] > w, Qt.Key.Key_Down: lambda v: v[3] > h}
    for k, past_edge in edges.items():
        for _ in range(100):
            if past_edge(view.viewport()):
                break
            key(view, qtbot, k)
        assert past_edge(view.viewport()), f"{k} never reached the edge"
        settle(view, qtbot)
        assert_matches_slide(view, truth_reader, f"at the edge reached with {k.name}")
    cx, cy = view.graphics.viewport().width() // 2, view.graphics.viewport().height() // 2
    for dx, dy in ((300, 0), (0, 250), (-300, 0), (0, -250)):  # mouse drags pan back across
        before = view.viewport()
        drag(view, qtbot, (cx, cy), (cx + dx, cy + dy))
        after = view.viewport()
        moved = (after[0] - before[0]) * view.scale(), (after[1] - before[1]) * view.scale()
        assert moved == pytest.approx((-dx, -dy), abs=3)  # content follows the mouse
        settle(view, qtbot)
        assert_matches_slide(view, truth_reader, f"after dragging by {(dx, dy)}")


def _centre(view):
    x0, y0, x1, y1 = view.viewport()
    return (x0 + x1) / 2, (y0 + y1) / 2


def test_the_main_view_writes_and_follows_the_camera_the_builder_gave_it(window, opened, truth_reader, qtbot):
    """A real wheel moves the view's camera (Qt-free, core.review.camera); moving the camera from
    code moves the painted view; a resize keeps it."""
    view = opened
    assert view is window.view
    cam, seen = view.camera, []
    cam.changed.connect(seen.append)
    fitted = cam.scale
    wheel(view, qtbot, 4)
    settle(view, qtbot)
    x0, y0, x1, y1 = view.viewport()
    assert seen and seen[-1] is view and cam.scale > 1.5 * fitted
    assert (*cam.centre, cam.scale) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2, view.scale()), rel=1e-6)
    cam.set((1500.0, 2200.0), 0.3)  # from code (e.g. another pane): the view follows
    settle(view, qtbot)
    x0, y0, x1, y1 = view.viewport()
    assert ((x0 + x1) / 2, (y0 + y1) / 2, view.scale()) == pytest.approx((1500.0, 2200.0, 0.3), rel=1e-6)
    assert_matches_slide(view, truth_reader, "after moving the camera from code")
    width = view.width()
    window.resize(window.width() - 200, window.height() - 100)
    qtbot.waitUntil(lambda: view.width() < width, timeout=5000)
    assert view.scale() == pytest.approx(0.3, rel=1e-6) and _centre(view) == pytest.approx((1500.0, 2200.0))
    assert cam.centre == pytest.approx((1500.0, 2200.0)) and cam.scale == pytest.approx(0.3)
