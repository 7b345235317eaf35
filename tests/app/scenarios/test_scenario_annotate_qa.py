"""What a reviewer coming from QuPath tripped over, driven with real input events and checked on
screen: Enter in the list's name editor, a ruler label left behind, slivers kept as regions, locked
annotations, the brush size, per-tool hints, undo after switching slides (docs/annotate.md)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import shapely
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from .annotate_input import HIGHLIGHT, colour_share, edge_points, to_level0, vp_click
from .driver import drag, grab, key, settle

PREVIEW = (20, 90, 230)  # the brush outline / shape being drawn (app/annotate/overlay.py)


def test_enter_in_the_name_editor_renames_and_draws_nothing(annotating, qtbot):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_R)
    drag(view, qtbot, (300, 200), (500, 350))
    key(view, qtbot, Qt.Key.Key_P)                         # a polygon tool is active: Enter must not go to it
    table = ann.panel.table
    rect = table.visualItemRect(table.item(0, 1))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    QTest.keyClick(table.viewport(), Qt.Key.Key_F2)        # edit the name, as a keyboard user does
    qtbot.waitUntil(lambda: table.state() == table.State.EditingState, timeout=3000)
    editor = table.focusWidget()
    QTest.keyClicks(editor, "tumour edge")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ann.doc.items[0].name == "tumour edge", timeout=3000)
    assert len(ann.doc) == 1
    assert table.item(0, 1).text() == "tumour edge"
    # Enter in the view still closes a clicked polygon
    view.setFocus()
    for at in [(150, 420), (300, 430), (280, 560)]:
        vp_click(view, qtbot, at)
    key(view, qtbot, Qt.Key.Key_Return)
    assert len(ann.doc) == 2 and ann.doc.items[1].kind == "region"


def test_ruler_label_goes_with_the_ruler(annotating, qtbot):
    window, view, ann = annotating
    before = grab(view)
    key(view, qtbot, Qt.Key.Key_L)
    drag(view, qtbot, (200, 300), (400, 300))
    shown = grab(view)
    label = (slice(270, 300), slice(400, 470))             # the label sits above-right of the end point
    assert np.abs(shown[label].astype(int) - before[label]).max() > 60
    key(view, qtbot, Qt.Key.Key_M)                         # another tool: line and label both gone
    qtbot.wait(50)
    after = grab(view)
    assert not ann.overlay.ruler_text.isVisible()
    assert np.abs(after[label].astype(int) - before[label]).max() <= 8
    assert np.abs(after[295:306, 200:400].astype(int) - before[295:306, 200:400]).max() <= 8


def test_slivers_and_click_sized_shapes_are_not_kept(annotating, qtbot):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_P)
    drag(view, qtbot, (150, 300), (450, 300))               # freehand along a line: no area to speak of
    key(view, qtbot, Qt.Key.Key_R)
    drag(view, qtbot, (300, 400), (301, 401), steps=2)      # a shaky click
    key(view, qtbot, Qt.Key.Key_E)
    drag(view, qtbot, (300, 500), (500, 501))              # a 1-px-high ellipse
    assert len(ann.doc) == 0
    assert window.status_text.text().startswith("nothing drawn")
    drag(view, qtbot, (300, 500), (330, 530))              # small, but a real shape, is kept
    assert len(ann.doc) == 1


def test_locked_annotation_is_not_moved_or_reshaped(annotating, qtbot, tmp_path):
    window, view, ann = annotating
    x0, y0 = to_level0(view, 300, 200)
    x1, y1 = to_level0(view, 500, 350)
    path = tmp_path / "locked.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": "0d7c7f4e-7c2b-4f7e-9b43-6a1b8e3f5c11",
        "geometry": shapely.geometry.mapping(shapely.box(x0, y0, x1, y1)),
        "properties": {"objectType": "annotation", "isLocked": True,
                       "classification": {"name": "Tumor", "color": [200, 0, 0]}}}]}))
    ann.load(path)
    key(view, qtbot, Qt.Key.Key_M)
    vp_click(view, qtbot, (500, 275))
    uid = ann.doc.items[0].uid
    assert ann.tools.selected == [uid]
    shape = ann.doc.get(uid).geometry
    drag(view, qtbot, (400, 200), (450, 250))               # drag the shape
    drag(view, qtbot, (300, 200), (250, 150))               # drag a corner
    assert ann.doc.get(uid).geometry.equals(shape)
    assert "locked" in window.status_text.text()
    assert ann.panel.table.item(0, 0).text() == "Tumor (locked)"          # the list says so too
    settle(view, qtbot)
    img = grab(view)
    assert colour_share(img, edge_points(300, 200, 500, 350), HIGHLIGHT) > 0.9   # still where it was
    # unlocking (context menu) makes it editable; saving writes QuPath's isLocked only when locked
    ann.set_locked(False)
    drag(view, qtbot, (400, 200), (450, 250))
    assert not ann.doc.get(uid).geometry.equals(shape)
    ann.set_locked(True)
    out = tmp_path / "out.geojson"
    ann.save(out)
    assert json.loads(out.read_text())["features"][0]["properties"]["isLocked"] is True


def test_brush_size_is_shown_at_the_cursor_and_tools_give_hints(annotating, qtbot):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_B)
    assert "drag" in window.status_text.text() and "Alt" in window.status_text.text()
    vp = view.graphics.viewport()
    QTest.mouseMove(vp, QPoint(300, 300))
    qtbot.wait(60)
    QTest.mouseMove(vp, QPoint(320, 310))
    qtbot.wait(60)
    img = grab(view)
    r = ann.tools.brush_px / 2
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = np.c_[320 + r * np.cos(t), 310 + r * np.sin(t)]
    assert colour_share(img, ring, PREVIEW, tol=60) > 0.8   # the brush outline follows the cursor
    key(view, qtbot, Qt.Key.Key_BracketRight)               # ] grows the brush, as in QuPath-like tools
    assert ann.tools.brush_px > 2 * r
    key(view, qtbot, Qt.Key.Key_M)
    qtbot.wait(30)
    img = grab(view)
    assert colour_share(img, ring, PREVIEW, tol=60) < 0.3   # no brush outline with another tool
    key(view, qtbot, Qt.Key.Key_P)
    assert "double-click" in window.status_text.text()
    sheet = window.show_shortcuts()                            # the view's own keys are listed too
    keys = {what: k for _, what, k in sheet.rows}
    assert "Return" in keys["Finish polygon"] and "Esc" in keys["Cancel drawing"] and keys["Brush larger"] == "]"
    sheet.close()


def test_undo_history_survives_switching_slides(annotating, qtbot, tmp_path, pyramid_slide):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_R)
    drag(view, qtbot, (300, 200), (500, 350))
    drag(view, qtbot, (300, 400), (500, 500))
    first = ann.slide_path
    other = tmp_path / f"other{pyramid_slide.suffix}"
    shutil.copy(pyramid_slide, other)                      # another file (a link would share the autosave)
    window.session.close()
    window.open_paths([other])
    qtbot.waitUntil(lambda: ann.slide_path == other and ann.doc is not None, timeout=10000)
    assert len(ann.doc) == 0 and not ann.doc.can_undo       # the other slide's own history: nothing to undo
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    window.session.close()
    window.open_paths([first])
    qtbot.waitUntil(lambda: ann.slide_path == first and ann.doc is not None and len(ann.doc) == 2, timeout=10000)
    assert "drawn: Tumor" in [x.name for x in window.session.layers]   # a region layer at once, not after an edit
    view.setFocus()
    key(view, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # undoes the second rectangle
    assert len(ann.doc) == 1


def test_session_file_carries_the_drawn_annotations(review_window, gce_project, qtbot, tmp_path, monkeypatch):
    """Save session, then open it where the autosave is gone (another machine, a colleague): the
    drawn regions come back as editable annotations with their classes, and as region layers."""
    from PySide6.QtWidgets import QFileDialog

    window = review_window
    window.open_paths([gce_project["slide"]])
    view, ann = window.view, window.annotator
    qtbot.waitUntil(lambda: view.reader is not None and ann.doc is not None, timeout=10000)
    settle(view, qtbot)
    view.setFocus()
    key(view, qtbot, Qt.Key.Key_R)
    drag(view, qtbot, (300, 200), (450, 300))
    ann.panel.class_box.setCurrentIndex(ann.panel.class_box.findData("Stroma"))
    drag(view, qtbot, (300, 350), (450, 450))
    drawn = {a.classification: a.geometry for a in ann.doc.items}
    path = tmp_path / "review.evident.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    window.review.actions["save_session"].trigger()
    for f in ann.autosave_dir.glob("*.geojson"):               # another machine: no autosave, no history
        f.unlink()
    ann._docs.clear()
    window.session.close()
    window.review.actions["open_session"].trigger()
    qtbot.waitUntil(lambda: ann.doc is not None and len(ann.doc) == 2, timeout=10000)
    assert {a.classification for a in ann.doc.items} == {"Tumor", "Stroma"}
    for a in ann.doc.items:
        assert a.geometry.symmetric_difference(drawn[a.classification]).area < 1e-6 * drawn[a.classification].area
    assert {"drawn: Tumor", "drawn: Stroma"} <= {x.name for x in window.session.layers}
    assert ann.panel.table.rowCount() == 2
    settle(view, qtbot)
    img = grab(view)
    assert colour_share(img, edge_points(300, 200, 450, 300), (200, 0, 0)) > 0.8   # painted again


def test_polygon_follows_the_cursor_and_dense_outlines_hide_their_handles(annotating, qtbot):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_P)
    vp_click(view, qtbot, (150, 150))
    vp_click(view, qtbot, (350, 150))
    QTest.mouseMove(view.graphics.viewport(), QPoint(350, 350))  # the next vertex is where the mouse is
    qtbot.wait(60)
    img = grab(view)
    down = np.c_[np.full(8, 350), np.linspace(180, 320, 8)]
    assert colour_share(img, down, PREVIEW, tol=60) > 0.8
    key(view, qtbot, Qt.Key.Key_Escape)
    assert len(ann.doc) == 0
    img = grab(view)
    assert colour_share(img, down, PREVIEW, tol=60) < 0.2
    # a brush stroke has a vertex every few screen px: no handles smear it; zoomed in they return
    key(view, qtbot, Qt.Key.Key_B)
    drag(view, qtbot, (150, 450), (450, 470))
    uid = ann.doc.items[-1].uid
    assert ann.tools.selected == [uid] and not ann.overlay.handles_shown
    img = grab(view)
    dark = (img[430:490, 150:450].astype(int).sum(axis=2) < 120).mean()
    assert dark < 0.02                                         # no black band of handle borders
    from .driver import wheel

    wheel(view, qtbot, 10, at=(300, 460))
    settle(view, qtbot)
    assert ann.overlay.handles_shown


def test_no_two_actions_share_a_key(review_window):
    """The window as ``evident view`` builds it: a key bound to two actions fires neither (Qt's
    "ambiguous shortcut"), so the tool keys, undo, delete… must each have one owner."""
    from PySide6.QtGui import QAction, QKeySequence

    owners: dict[str, list[str]] = {}
    for act in review_window.findChildren(QAction):
        for k in act.shortcuts():
            owners.setdefault(k.toString(QKeySequence.SequenceFormat.PortableText), []).append(act.text())
    clashes = {k: v for k, v in owners.items() if len(v) > 1}
    assert not clashes, clashes


def test_localisation_metrics_follow_the_drawn_region(review_window, gce_project, qtbot):
    """A map chosen in the Layers dock is scored against a region as it is drawn and as it moves."""
    window = review_window
    window.open_paths([gce_project["slide"], gce_project["features"], gce_project["evidence"]])
    view, ann = window.view, window.annotator
    qtbot.waitUntil(lambda: view.reader is not None and ann.doc is not None and window.session.bag is not None,
                    timeout=10000)
    scalar = next(x.name for x in window.session.layers if type(x).__name__ == "ScalarLayer")
    window.session.set_current_layer(scalar)
    settle(view, qtbot)
    view.setFocus()
    from PySide6.QtWidgets import QWidget

    panel = next(p for p in window.findChildren(QWidget) if hasattr(p, "annotation_metrics"))  # the Layers dock
    key(view, qtbot, Qt.Key.Key_R)
    drag(view, qtbot, (250, 200), (450, 400))
    qtbot.waitUntil(lambda: "drawn: Tumor (" in panel.annotation_metrics.text(), timeout=5000)
    first = panel.annotation_metrics.text()
    key(view, qtbot, Qt.Key.Key_M)
    drag(view, qtbot, (350, 300), (150, 500))                  # move the selected rectangle elsewhere
    qtbot.waitUntil(lambda: panel.annotation_metrics.text() != first, timeout=5000)
    assert "drawn: Tumor (" in panel.annotation_metrics.text()


def test_escape_starts_a_new_point_set(annotating, qtbot):
    window, view, ann = annotating
    key(view, qtbot, Qt.Key.Key_Period)
    for at in [(200, 200), (240, 220)]:
        vp_click(view, qtbot, at)
    key(view, qtbot, Qt.Key.Key_Escape)                        # nothing being drawn: deselect
    assert ann.tools.selected == []
    vp_click(view, qtbot, (400, 400))
    assert [len(a.geometry.geoms) for a in ann.doc.items] == [2, 1]
