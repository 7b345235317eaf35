"""Keyboard focus and the box selection tool after real input in the main window."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from .driver import drag, grab, key, settle, wheel


def test_arrow_keys_pan_right_after_opening_a_slide_without_a_click(window, pyramid_slide, qtbot):
    qtbot.waitActive(window)
    spin = window.interventions.k
    QTest.mouseClick(spin, Qt.MouseButton.LeftButton)  # a person last used a dock's spin box
    assert QApplication.focusWidget() is spin
    window.open_paths([pyramid_slide])
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None, timeout=10000)
    settle(view, qtbot)
    wheel(view, qtbot, 3)  # the wheel does not move the focus
    settle(view, qtbot)
    before, k_before = view.viewport(), spin.value()
    key(None, qtbot, Qt.Key.Key_Right)  # to whatever has the keyboard focus, as a person's key press
    after = view.viewport()
    assert after[0] > before[0] + 0.1 * (before[2] - before[0]), "the right arrow did not pan the view"
    assert spin.value() == k_before


def test_the_view_takes_the_focus_when_the_window_is_activated_with_no_focus(window, pyramid_slide, qtbot):
    from PySide6.QtWidgets import QWidget

    window.open_paths([pyramid_slide])
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None, timeout=10000)
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitActive(other)
    view.clearFocus()
    assert window.focusWidget() is None
    window.activateWindow()
    qtbot.waitActive(window)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view, timeout=2000)
    before = view.viewport()
    key(None, qtbot, Qt.Key.Key_Down)
    assert view.viewport()[1] > before[1]


def test_box_tool_press_drag_release_draws_a_rubber_band_and_selects(window, pyramid_project, qtbot):
    p = pyramid_project
    window.open_paths([p["slide"], p["features"], p["evidence"]])
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None and window.session.grid is not None, timeout=10000)
    settle(view, qtbot)
    window.interventions.tool.setCurrentText("box")
    assert "drag" in window.status_text.text().lower()  # the hint says how the tool works
    vp = view.graphics.viewport()
    a, b = QPoint(vp.width() // 3, vp.height() // 3), QPoint(2 * vp.width() // 3, 2 * vp.height() // 3)
    range_before = view.viewport()
    before = grab(view)
    drag(view, qtbot, (a.x(), a.y()), (b.x(), b.y()), release=False)
    during = grab(view)
    changed = np.abs(during.astype(int) - before.astype(int)).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert xs.size, "no rubber band painted while dragging"
    assert abs(xs.min() - a.x()) <= 3 and abs(xs.max() - b.x()) <= 3 and abs(ys.min() - a.y()) <= 3 and abs(ys.max() - b.y()) <= 3
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    qtbot.wait(1)
    assert view.viewport() == pytest.approx(range_before)  # the drag drew a box, it did not pan
    p0 = view.view_box.mapSceneToView(view.graphics.mapToScene(a))
    p1 = view.view_box.mapSceneToView(view.graphics.mapToScene(b))
    import shapely

    want = window.session.grid.patches_in(shapely.box(p0.x(), p0.y(), p1.x(), p1.y()))
    assert want.size > 0 and np.array_equal(np.sort(window.session.selection), np.sort(want))
    after = grab(view)  # the rubber band is gone after the release (the selection outline stays)
    assert view.rubber_band is None or not view.rubber_band.isVisible()
    assert after.shape == before.shape
