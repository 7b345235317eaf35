"""A GeoJSON opened with the slide (the region-layer path: File › Open, drag and drop, the demo) is
shown read-only and becomes editable annotations with "Edit as annotations" (one undoable edit);
then it is selected and moved like a drawn one. Real mouse and keyboard events on the main window,
the painted view and the autosaved file are checked (docs/annotate.md, "Region layers from files")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .annotate_input import HIGHLIGHT, colour_share, edge_points, vp_click
from .driver import drag, grab, key, open_focused, screen_to_level0

ORANGE = (255, 120, 0)  # the first region layer's outline colour (core.review.loading)


def _to_screen(view, x: float, y: float) -> tuple[float, float]:
    ax, ay, sx, sy = screen_to_level0(view)
    return (x - ax) / sx - 0.5, (y - ay) / sy - 0.5


@pytest.fixture
def with_regions(window, pyramid_project, qtbot):
    """The scenario slide opened with its features and its annotation file (as region layers)."""
    p = pyramid_project
    return window, open_focused(window, qtbot, [p["slide"], p["features"], p["annotations"]])


def _menu_click(menu, qtbot, text: str) -> None:
    """Click the menu entry whose text contains ``text`` with the real mouse."""
    act = next(a for a in menu.actions() if text in a.text().replace("&", ""))
    QTest.mouseMove(menu, menu.actionGeometry(act).center())
    qtbot.wait(30)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, menu.actionGeometry(act).center())
    qtbot.wait(30)


def test_a_region_layer_becomes_annotations_that_move_and_autosave(with_regions, qtbot, pyramid_project):
    window, view = with_regions
    ann, s = window.annotator, window.session
    layer = s.layer("regions: Tumor")
    x0, y0, x1, y1 = layer.geometry.bounds
    (i0, j0), (i1, j1) = _to_screen(view, x0, y0), _to_screen(view, x1, y1)
    assert i1 - i0 > 60 and j1 - j0 > 40, "the region is too small on screen for the test"
    row = next(window.layers_panel.list.item(k) for k in range(window.layers_panel.list.count())
               if window.layers_panel.list.item(k).data(Qt.ItemDataRole.UserRole) == layer.name)
    assert "read-only" in row.text()                                   # the Layers dock says so
    assert colour_share(grab(view), edge_points(i0, j0, i1, j1), ORANGE) > 0.9
    inside = (round((i0 + i1) / 2), round((j0 + j1) / 2))

    # the Move tool on it: nothing is selected, the status bar says why and what to do
    assert ann.tools.tool == "move"
    vp_click(view, qtbot, inside)
    assert ann.tools.selected == [] and len(ann.doc) == 0
    assert "read-only" in window.status_text.text() and "Edit" in window.status_text.text()

    # right-click › Edit 'regions: Tumor' as annotations (a real click on the menu entry)
    vp_click(view, qtbot, inside, button=Qt.MouseButton.RightButton)
    menu = ann.context_menu
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    _menu_click(menu, qtbot, "as annotations")
    qtbot.waitUntil(lambda: len(ann.doc) == 1, timeout=3000)
    assert "regions: Tumor" not in [x.name for x in s.layers]          # the layer became the annotation
    a = ann.doc.items[0]
    assert a.classification == "Tumor" and a.geometry.equals(layer.geometry)

    # select it with a click, drag it by (60, 40) screen px
    vp_click(view, qtbot, (round(i1), round((j0 + j1) / 2)))          # on its outline
    assert ann.tools.selected == [a.uid]
    drag(view, qtbot, inside, (inside[0] + 60, inside[1] + 40))
    moved = ann.doc.get(a.uid).geometry
    ax, ay, sx, sy = screen_to_level0(view)
    assert moved.bounds[0] - x0 == pytest.approx(60 * sx, abs=3 * sx)
    assert moved.bounds[1] - y0 == pytest.approx(40 * sy, abs=3 * sy)
    qtbot.wait(50)
    img = grab(view)
    assert colour_share(img, edge_points(i0 + 60, j0 + 40, i1 + 60, j1 + 40), HIGHLIGHT) > 0.9  # painted there
    old_left_top = np.concatenate([edge_points(i0, j0, i1, j1)[:12][:4], edge_points(i0, j0, i1, j1)[24:36][:4]])
    for colour in (HIGHLIGHT, ORANGE):
        assert colour_share(img, old_left_top, colour) < 0.2           # and no longer where it was

    saved = json.loads(ann.autosave_path(pyramid_project["slide"]).read_text())
    geoms = [shapely.geometry.shape(f["geometry"]) for f in saved["features"]]
    assert len(geoms) == 1 and geoms[0].equals_exact(moved, tolerance=1e-6)
    assert geoms[0].bounds[0] == pytest.approx(x0 + 60 * sx, abs=3 * sx)

    # undo the move, then the conversion: the read-only layer is back; redo takes it away again
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(ann.doc) == 0 and "regions: Tumor" in [x.name for x in s.layers]
    assert s.layer("regions: Tumor").geometry.equals(layer.geometry)
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(ann.doc) == 1 and "regions: Tumor" not in [x.name for x in s.layers]


def test_reopening_the_file_does_not_bring_back_a_converted_layer(with_regions, qtbot, pyramid_project):
    """The annotations autosaved from a converted layer are the slide's: opening the slide with the
    same file again shows them, not a second, read-only copy."""
    window, view = with_regions
    ann, s = window.annotator, window.session
    ann.edit_layer_as_annotations("regions: Tumor")
    assert len(ann.doc) == 1
    p = pyramid_project
    window.open_paths([p["slide"], p["features"], p["annotations"]])
    qtbot.waitUntil(lambda: window.session.grid is not None, timeout=10000)
    qtbot.wait(50)
    assert len(ann.doc) == 1
    assert "regions: Tumor" not in [x.name for x in s.layers]


def test_the_layers_dock_button_converts_the_chosen_read_only_layer(with_regions, qtbot, pyramid_project):
    window, view = with_regions
    ann, panel = window.annotator, window.layers_panel
    window.open_paths([pyramid_project["evidence"]])                    # maps beside the region layer
    qtbot.waitUntil(lambda: panel.list.count() > 1, timeout=5000)
    gate = next(panel.list.item(k) for k in range(panel.list.count())
                if not panel.list.item(k).data(Qt.ItemDataRole.UserRole).startswith("regions: "))
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.list.visualItemRect(gate).center())
    assert not panel.edit_button.isEnabled()                             # only a read-only region layer
    row = next(panel.list.item(k) for k in range(panel.list.count())
               if panel.list.item(k).data(Qt.ItemDataRole.UserRole) == "regions: Tumor")
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.list.visualItemRect(row).center())
    assert panel.edit_button.isEnabled()
    QTest.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(ann.doc) == 1, timeout=3000)
    assert "regions: Tumor" not in [x.name for x in window.session.layers]
    assert ann.tools.selected == [ann.doc.items[0].uid] and ann.tools.tool == "move"
