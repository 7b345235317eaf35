"""The Compare window after real input: pane counts, A − B, fit, swipe labels, no leak into the main window."""

from __future__ import annotations

import pytest

from .driver import assert_matches_slide, settle


def _scale(view):
    return view.scale()


def test_pane_count_2_4_2_keeps_the_zoom_and_every_pane_paints_the_slide(compare_window, truth_reader, qtbot):
    c = compare_window
    a = c.panes[0].view
    before = a.scale()
    for n in (4, 2, 3, 2):
        c.count.setValue(n)
        qtbot.wait(50)
        for pane in c.panes:
            settle(pane.view, qtbot)
        scales = [p.view.scale() for p in c.panes]
        assert len(c.panes) == n
        assert max(scales) == pytest.approx(min(scales), rel=1e-3)
        # the slide stays on screen at a comparable zoom (never shrunk to a dot)
        assert scales[0] > 0.5 * before, f"{n} panes: zoom fell from {before:.4f} to {scales[0]:.4f}"
        for pane in c.panes:
            assert_matches_slide(pane.view, truth_reader, f"{n} panes, pane {pane.title.text()}")


def _click(qtbot, widget):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
    qtbot.wait(1)


def test_a_minus_b_keeps_the_zoom_and_stays_in_the_compare_window(compare_window, window, truth_reader, qtbot):
    c = compare_window
    c.panes[0].set_layer("attention")
    c.panes[1].set_layer("gate")
    before = c.panes[0].view.scale()
    main_layers = [x.name for x in window.session.layers]
    main_items = set(window.overlays.items)
    _click(qtbot, c.diff)
    name = "attention − gate"
    assert len(c.panes) == 3 and c.panes[2].layer_name == name
    for pane in c.panes:
        settle(pane.view, qtbot)
        assert pane.view.scale() == pytest.approx(before, rel=1e-3), "A − B changed the zoom"
        assert_matches_slide(pane.view, truth_reader, f"after A − B, pane {pane.title.text()}")
    assert c.panes[2].overlays.items[name]  # drawn in its pane...
    assert [x.name for x in window.session.layers] == main_layers  # ...but not added to the main window
    assert set(window.overlays.items) == main_items


def test_f_fits_every_pane_after_wheel_zoom(compare_window, truth_reader, qtbot):
    from PySide6.QtCore import Qt

    from .driver import key, wheel

    c = compare_window
    a = c.panes[0].view
    fitted = a.scale()
    wheel(a, qtbot, 6)
    settle(a, qtbot)
    assert a.scale() > 2 * fitted and c.panes[1].view.scale() == pytest.approx(a.scale(), rel=1e-3)
    c.activateWindow()
    a.setFocus()
    key(a, qtbot, Qt.Key.Key_F)
    w, h = a.reader.dimensions
    for pane in c.panes:
        settle(pane.view, qtbot)
        x0, y0, x1, y1 = pane.view.viewport()
        assert x0 <= 0 and y0 <= 0 and x1 >= w and y1 >= h, f"pane {pane.title.text()} not fitted after F"
        assert_matches_slide(pane.view, truth_reader, f"after F, pane {pane.title.text()}")


def test_swipe_sides_are_labelled_with_the_map_names_and_follow_a_mouse_drag(compare_window, qtbot):
    from PySide6.QtCore import QPointF

    from .driver import drag

    c = compare_window
    c.panes[0].set_layer("attention")
    c.panes[1].set_layer("gate")
    _click(qtbot, c.swipe)
    a = c.panes[0]
    assert a.swipe is not None
    left, right = a.swipe.label_texts()
    assert "gate" in left and "attention" in right
    g, vb = a.view.graphics, a.view.view_box

    def screen_x(x):
        return g.mapFromScene(vb.mapViewToScene(QPointF(x, 0))).x()

    line_x = screen_x(a.swipe.position)
    lab_l, lab_r = (g.mapFromScene(lab.sceneBoundingRect()).boundingRect() for lab in a.swipe.labels)
    assert lab_l.right() <= line_x + 2 and lab_r.left() >= line_x - 2  # either side of the line
    assert lab_l.left() >= 0 and lab_r.right() <= g.viewport().width() and lab_l.top() >= 0  # on screen
    y = g.viewport().height() // 2
    target = line_x - 150
    drag(a.view, qtbot, (line_x, y), (target, y))
    assert screen_x(a.swipe.position) == pytest.approx(target, abs=3)  # the line followed the mouse
    lab_l = g.mapFromScene(a.swipe.labels[0].sceneBoundingRect()).boundingRect()
    assert lab_l.right() == pytest.approx(target, abs=3)  # and the label with it
    c.panes[1].set_layer("ig")
    assert "ig" in a.swipe.label_texts()[0]


def test_wheel_in_and_back_out_in_one_pane_every_pane_paints_the_slide(compare_window, truth_reader, qtbot):
    from .driver import wheel

    c = compare_window
    b = c.panes[1].view
    start = b.tiles.current_level
    for steps in (4, 4, -4, -4):
        wheel(b, qtbot, steps)
        for pane in c.panes:
            settle(pane.view, qtbot)
            assert_matches_slide(pane.view, truth_reader, f"after {steps:+d} notches in pane B, pane {pane.title.text()}")
    assert b.tiles.current_level == start


def _place(view):
    x0, y0, x1, y1 = view.viewport()
    return (x0 + x1) / 2, (y0 + y1) / 2, view.scale()


def test_locked_panes_follow_one_camera_and_unlocked_panes_their_own(compare_window, truth_reader, qtbot):
    """Real wheel and drag in pane B move the ONE camera the locked panes share (pane A shows the same
    centre and zoom and paints the slide); after a real click on "Lock views" each pane follows its
    own camera; re-locking aligns pane A to pane B, the pane navigated last."""
    from .driver import drag, wheel

    c = compare_window
    a, b = c.panes[0].view, c.panes[1].view
    shared = c.sync.camera
    assert a.camera is shared and b.camera is shared
    wheel(b, qtbot, 5, at=(b.graphics.viewport().width() // 3, b.graphics.viewport().height() // 3))
    settle(b, qtbot)
    assert _place(a) == pytest.approx(_place(b), rel=1e-6)
    assert (*shared.centre, shared.scale) == pytest.approx(_place(b), rel=1e-6)
    settle(a, qtbot)
    assert_matches_slide(a, truth_reader, "pane A after a wheel in pane B")
    _click(qtbot, c.lock)  # unlock
    assert not c.lock.isChecked() and a.camera is not shared and b.camera is not a.camera
    before_a = _place(a)
    vp = b.graphics.viewport()
    drag(b, qtbot, (vp.width() // 2, vp.height() // 2), (vp.width() // 2 - 120, vp.height() // 2 + 60))
    wheel(b, qtbot, 2)
    settle(b, qtbot)
    assert _place(a) == pytest.approx(before_a, rel=1e-9) and _place(b) != pytest.approx(before_a, rel=1e-3)
    _click(qtbot, c.lock)  # re-lock: everything aligns to pane B
    assert a.camera is shared and b.camera is shared
    assert _place(a) == pytest.approx(_place(b), rel=1e-6)
    settle(a, qtbot)
    assert_matches_slide(a, truth_reader, "pane A after re-locking to pane B")
