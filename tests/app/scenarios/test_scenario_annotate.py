"""Annotate with the real mouse and keyboard: draw, select, move, reshape, classify, measure, undo,
save as QuPath GeoJSON and reload; what is painted is checked on screen."""

from __future__ import annotations

import json

import pytest
import shapely
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .annotate_input import HIGHLIGHT, TUMOR, colour_share, edge_points, to_level0, vp_click
from .driver import drag, grab, key, settle, wheel


def test_draw_rectangle_select_move_reshape_undo(annotating, qtbot):
    window, view, ann = annotating
    vp = view.graphics.viewport()
    assert vp.width() >= 560 and vp.height() >= 640  # every point below lies in the view
    key(view, qtbot, Qt.Key.Key_R)                                       # QuPath's rectangle key
    assert ann.tools.tool == "rectangle"
    drag(view, qtbot, (300, 200), (500, 350))
    assert len(ann.doc) == 1
    a = ann.doc.items[0]
    x0, y0 = to_level0(view, 300, 200)
    x1, y1 = to_level0(view, 500, 350)
    assert shapely.equals_exact(a.geometry.envelope, shapely.box(x0, y0, x1, y1).envelope, tolerance=3 * (x1 - x0) / 200)
    assert a.classification == "Tumor"
    qtbot.wait(50)
    img = grab(view)
    assert colour_share(img, edge_points(300, 200, 500, 350), HIGHLIGHT) > 0.9  # new shape: selected
    key(view, qtbot, Qt.Key.Key_M)                                       # move tool; click empty slide: deselect
    vp_click(view, qtbot, (150, 500))
    assert ann.tools.selected == []
    img = grab(view)
    assert colour_share(img, edge_points(300, 200, 500, 350), TUMOR) > 0.9  # drawn in the class colour
    from app.annotate.panel import format_area

    mpp = view.reader.mpp
    assert ann.panel.table.rowCount() == 1
    assert ann.panel.table.item(0, 2).text() == format_area(a.geometry.area * mpp * mpp, a.geometry.area)

    vp_click(view, qtbot, (500, 275))                                    # click the outline: selected
    assert ann.tools.selected == [a.uid]
    drag(view, qtbot, (400, 200), (450, 250))                            # drag the selected shape
    moved = ann.doc.get(a.uid).geometry
    dx = to_level0(view, 450, 250)[0] - to_level0(view, 400, 200)[0]
    assert moved.bounds[0] == pytest.approx(x0 + dx, abs=abs(dx) * 0.1)
    img = grab(view)
    assert colour_share(img, edge_points(350, 250, 550, 400), HIGHLIGHT) > 0.9
    # reshape: drag the top-left vertex handle (screen 350, 250) out to (320, 220)
    drag(view, qtbot, (350, 250), (320, 220))
    assert ann.doc.get(a.uid).geometry.area > moved.area
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the reshape
    assert ann.doc.get(a.uid).geometry.equals(moved)
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the move
    assert ann.doc.get(a.uid).geometry.equals(a.geometry)
    key(view, qtbot, Qt.Key.Key_Delete)
    assert len(ann.doc) == 0
    img = grab(view)
    assert colour_share(img, edge_points(300, 200, 500, 350), TUMOR) < 0.2   # gone from the screen


def test_polygon_points_brush_ruler_and_space_pan(annotating, qtbot):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_P)
    for at in [(150, 150), (350, 170), (330, 350)]:
        vp_click(view, qtbot, at)
    vp_click(view, qtbot, (170, 330), double=True)
    assert len(ann.doc) == 1 and ann.doc.items[0].kind == "region"
    assert len(ann.doc.vertices(ann.doc.items[0].uid)) >= 3
    ann.panel.class_box.setCurrentIndex(ann.panel.class_box.findData("Immune cells"))
    key(view, qtbot, Qt.Key.Key_Period)                                  # points, for counting
    for at in [(450, 150), (470, 190), (500, 160)]:
        vp_click(view, qtbot, at)
    pts = [a for a in ann.doc.items if a.kind == "points"]
    assert len(pts) == 1 and len(pts[0].geometry.geoms) == 3 and pts[0].classification == "Immune cells"
    assert "3 points" in [ann.panel.table.item(r, 3).text() for r in range(ann.panel.table.rowCount())]
    key(view, qtbot, Qt.Key.Key_B)                                       # brush stroke
    drag(view, qtbot, (100, 450), (300, 460))
    brushed = ann.doc.items[-1]
    assert brushed.kind == "region" and brushed.classification == "Immune cells"
    assert brushed.geometry.length > 0 and brushed.geometry.area > 0
    key(view, qtbot, Qt.Key.Key_L)                                       # ruler: 200 screen px
    drag(view, qtbot, (100, 600), (300, 600))
    span = to_level0(view, 300, 600)[0] - to_level0(view, 100, 600)[0]
    expected_um = span * view.reader.mpp
    text = window.status_text.text()
    assert text.startswith("ruler: ")
    shown = float(text.split()[1].replace(",", ""))
    assert shown == pytest.approx(expected_um if "µm" in text else expected_um / 1000, rel=0.03)
    # space + drag pans even with a drawing tool active, and draws nothing
    key(view, qtbot, Qt.Key.Key_R)
    n, before = len(ann.doc), view.viewport()
    QTest.keyPress(view, Qt.Key.Key_Space)
    drag(view, qtbot, (400, 300), (300, 300))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert len(ann.doc) == n and view.viewport()[0] > before[0]


def test_save_reload_autosave_context_menu_and_layers(annotating, qtbot, tmp_path, pyramid_slide):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_E)
    drag(view, qtbot, (100, 250), (250, 400))
    key(view, qtbot, Qt.Key.Key_R)
    drag(view, qtbot, (300, 250), (450, 400))
    assert {a.classification for a in ann.doc.items} == {"Tumor"}
    assert "drawn: Tumor" in [l.name for l in window.session.layers]     # a region layer for the rest of Evident
    # right-click on the rectangle: the context menu selects it and offers the classes
    vp_click(view, qtbot, (450, 325), button=Qt.MouseButton.RightButton)
    menu = ann.context_menu
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    assert ann.tools.selected == [ann.doc.items[1].uid]
    classes = next(a for a in menu.actions() if a.text().replace("&", "") == "Set class").menu()
    stroma = next(a for a in classes.actions() if a.text() == "Stroma")
    menu.close()
    stroma.trigger()
    assert ann.doc.items[1].classification == "Stroma"
    assert "drawn: Stroma" in [l.name for l in window.session.layers]
    out = tmp_path / "drawn.geojson"
    ann.save(out)
    doc = json.loads(out.read_text())
    assert [f["properties"]["classification"] for f in doc["features"]] == [
        {"name": "Tumor", "color": [200, 0, 0]}, {"name": "Stroma", "color": [150, 200, 150]}]
    assert all(f["properties"]["objectType"] == "annotation" and f["id"] for f in doc["features"])
    # the autosave brings the drawn work back when the slide is opened again
    saved = list(ann.doc.items)
    window.session.close()
    window.open_paths([pyramid_slide])
    qtbot.waitUntil(lambda: ann.doc is not None and len(ann.doc) == 2, timeout=10000)
    assert [(a.uid, a.classification) for a in ann.doc.items] == [(a.uid, a.classification) for a in saved]
    settle(view, qtbot)
    wheel(view, qtbot, 1)
    settle(view, qtbot)
    # the shortcuts sheet lists the tool keys it really has
    sheet = window.show_shortcuts()
    keys = {(what, k) for _, what, k in sheet.rows}
    assert ("Rectangle", "R") in keys and ("Polygon", "P") in keys and ("Fit", "F") in keys
    sheet.close()
