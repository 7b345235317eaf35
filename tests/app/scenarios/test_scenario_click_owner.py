"""One click, one tool: with an annotation tool active a left click on the slide never reaches the
Interventions selection tools, and with an Interventions tool chosen it does (docs/annotate.md,
"Who gets a click"). Real mouse events on the main window; the painted view is checked."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from .annotate_input import to_level0, vp_click
from .driver import grab, key, open_focused

KEYS = {"move": Qt.Key.Key_M, "rectangle": Qt.Key.Key_R, "ellipse": Qt.Key.Key_E, "polygon": Qt.Key.Key_P,
        "brush": Qt.Key.Key_B, "points": Qt.Key.Key_Period, "ruler": Qt.Key.Key_L}


@pytest.fixture
def reviewing(window, pyramid_project, qtbot):
    """The main window with the scenario slide, its features and maps open, active and focused."""
    p = pyramid_project
    return window, open_focused(window, qtbot, [p["slide"], p["features"], p["evidence"]])


def _patch_spot(window, view) -> tuple[tuple[int, int], int]:
    """A screen point near the view's centre that lies well inside a patch of the bag (the patch
    is the same 4 screen px around it), and that patch."""
    vp, grid = view.graphics.viewport(), window.session.grid
    for dj in range(0, vp.height() // 2, 7):
        for di in range(0, vp.width() // 2, 7):
            at = (vp.width() // 2 + di, vp.height() // 2 + dj)
            around = {grid.patch_at(*to_level0(view, at[0] + a, at[1] + b)) for a in (-4, 0, 4) for b in (-4, 0, 4)}
            if len(around) == 1 and (i := around.pop()) >= 0:
                return at, int(i)
    raise AssertionError("no patch on screen")


def _changed(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 40).sum())


def test_a_move_click_on_empty_slide_leaves_the_intervention_selection_alone(reviewing, qtbot):
    window, view = reviewing
    ann, s = window.annotator, window.session
    assert ann.tools.tool == "move" and len(ann.doc) == 0  # the default tool, nothing drawn
    at, patch = _patch_spot(window, view)
    before, painted = s.selection.copy(), grab(view)
    vp_click(view, qtbot, at)
    qtbot.wait(50)
    assert np.array_equal(s.selection, before), "the Move click also toggled a patch"
    assert _changed(grab(view), painted) == 0, "the Move click changed what is painted"
    assert window.interventions.selection_label.text() == f"{before.size} patches selected"

    # the Interventions click tool chosen: the same click toggles the patch, painted as its outline
    window.interventions.tool.setCurrentText("click")
    assert view.view_box.tool is None and not ann._actions["tool_move"].isChecked()  # one tool owns clicks
    vp_click(view, qtbot, at)
    qtbot.waitUntil(lambda: patch in s.selection.tolist(), timeout=2000)
    qtbot.wait(50)
    assert _changed(grab(view), painted) > 20, "the selected patch is not outlined"
    vp_click(view, qtbot, at)                                   # and back
    assert patch not in s.selection.tolist()

    # M hands the clicks back to annotating: the Interventions tool shows it is off
    key(view, qtbot, Qt.Key.Key_M)
    assert view.view_box.tool is ann.tools and ann._actions["tool_move"].isChecked()
    assert window.interventions.tool.currentText() not in ("click", "box", "polygon")
    before = s.selection.copy()
    vp_click(view, qtbot, at)
    assert np.array_equal(s.selection, before)


@pytest.mark.parametrize("tool", [t for t in KEYS if t != "move"])
def test_no_annotation_tool_lets_a_click_through(reviewing, qtbot, tool):
    window, view = reviewing
    s = window.session
    key(view, qtbot, KEYS[tool])
    assert window.annotator.tools.tool == tool
    at, _ = _patch_spot(window, view)
    before = s.selection.copy()
    vp_click(view, qtbot, at)
    qtbot.wait(30)
    assert np.array_equal(s.selection, before), f"a {tool} click toggled a patch"


def test_a_new_slide_keeps_the_interventions_tool_in_charge(reviewing, pyramid_project, qtbot):
    """Opening another file while the Interventions click tool is chosen does not hand the clicks
    back to the annotation tool behind the user's back."""
    window, view = reviewing
    window.interventions.tool.setCurrentText("click")
    window.open_paths([pyramid_project["slide"]])  # reopened: the annotator's document is set again
    qtbot.wait(50)
    assert view.view_box.tool is None
    assert window.interventions.tool.currentText() == "click"


def test_a_move_drag_after_the_box_tool_pans_and_selects_nothing(reviewing, qtbot):
    """Box chosen, then M: a drag on empty slide is the Move tool's (a pan), not a selection box."""
    from .driver import drag

    window, view = reviewing
    s = window.session
    window.interventions.tool.setCurrentText("box")
    assert view.view_box.tool is None
    key(view, qtbot, Qt.Key.Key_M)
    assert window.interventions.tool.currentText() not in ("click", "box", "polygon")
    vp = view.graphics.viewport()
    before_sel, before_range = s.selection.copy(), view.viewport()
    drag(view, qtbot, (vp.width() // 3, vp.height() // 3), (2 * vp.width() // 3, 2 * vp.height() // 3))
    assert np.array_equal(s.selection, before_sel), "the drag drew a selection box"
    assert view.viewport()[0] < before_range[0] - 1, "the drag did not pan"
    assert view.rubber_band is None or not view.rubber_band.isVisible()
