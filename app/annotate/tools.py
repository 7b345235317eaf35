"""The annotation tools: what a left click or drag does in the slide view (docs/annotate.md).

One :class:`AnnotationTools` is the view box's ``tool`` (app/viewer/slide_view.py) while it is
active: the view box asks :meth:`drag_start` whether a left drag belongs to the tool (else it pans)
and hands it every left click. Choosing an Interventions selection tool calls :meth:`release`
(the tool is no longer the view box's), choosing a tool again makes it active (docs/annotate.md).
Coordinates are level-0 px; tolerances are in screen px, converted with the view's zoom.

* ``move`` (M): click selects the annotation under the cursor (Shift adds to the selection); a
  drag on a vertex handle reshapes, on a selected annotation moves it, elsewhere pans.
* ``rectangle`` (R), ``ellipse`` (E): drag out the shape.
* ``polygon`` (P): click vertex after vertex, double-click (or Enter) closes; or drag freehand.
* ``brush`` (B): drag paints a disc of :attr:`AnnotationTools.brush_px` screen px; starting inside
  the selected region adds to it, with Alt held it erases from it.
* ``points`` (.): each click adds a point to the selected point set of the current class (a new
  set otherwise), for counting.
* ``ruler`` (L): drag measures a length in µm (shown on the line and in the status bar).

New annotations get :attr:`AnnotationTools.current_class`. Esc cancels a shape being drawn. A
shape thinner than :data:`MIN_THICKNESS_PX` screen px (a click, a shaky click, a freehand line) is
not kept. A locked annotation (QuPath's ``isLocked``) is selected but never moved or reshaped.
With the brush, its outline follows the cursor; ``[`` and ``]`` shrink and grow it.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import shapely
from PySide6.QtCore import QObject, Qt, Signal
from shapely.geometry import LineString, Polygon

from core.review.annotation_doc import AnnotationDocument, ellipse, rectangle

__all__ = ["AnnotationTools", "Tool", "TOOLS"]

Tool = Literal["move", "rectangle", "ellipse", "polygon", "brush", "points", "ruler"]
#: tool → (menu text, QuPath-like key)
TOOLS: dict[str, tuple[str, str]] = {
    "move": ("&Move / select", "M"), "rectangle": ("&Rectangle", "R"), "ellipse": ("&Ellipse", "E"),
    "polygon": ("&Polygon", "P"), "brush": ("&Brush", "B"), "points": ("P&oints", "."), "ruler": ("R&uler", "L"),
}
#: tool → the status-bar hint shown when it is chosen
HINTS: dict[str, str] = {
    "move": "click selects, Shift+click adds; drag moves the selection, a handle reshapes; right-click: class, lock",
    "rectangle": "drag to draw; Esc cancels; Space+drag pans",
    "ellipse": "drag to draw; Esc cancels; Space+drag pans",
    "polygon": "click the vertices, double-click or Enter closes; or drag freehand; Esc cancels",
    "brush": "drag paints (inside the selected region: adds to it); Alt+drag erases; [ and ] size",
    "points": "click adds a point to the selected point set of the class (Esc: start a new set)",
    "ruler": "drag to measure; the length shows on the line and here",
}
MIN_THICKNESS_PX = 2.0  # screen px: a drawn region thinner than this everywhere is a slip, not a shape
_ALT = int(Qt.KeyboardModifier.AltModifier.value)
_SHIFT = int(Qt.KeyboardModifier.ShiftModifier.value)


class AnnotationTools(QObject):
    """Turns clicks and drags into edits of ``doc`` (set with :meth:`set_document`).

    Signals: ``selection_changed()``, ``missed(x, y)`` (a Move click on no annotation, level-0 px),
    ``measured(text: str)`` (ruler), ``message(text: str)``.
    """

    selection_changed = Signal()
    missed = Signal(float, float)  # a Move click at level-0 (x, y) hit no annotation
    measured = Signal(str)
    message = Signal(str)

    def __init__(self, view, overlay, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.overlay = view, overlay
        self.doc: AnnotationDocument | None = None
        self.tool: Tool = "move"
        self.active = True  # False while an Interventions selection tool owns the clicks (release())
        self.current_class: str | None = "Tumor"
        self.selected: list[str] = []
        self.brush_px = 24.0        # brush diameter, screen px
        self.handle_px = 8.0        # grab distance of a vertex handle / an outline, screen px
        self.mpp: float | None = None
        self._vertices: list[tuple[float, float]] = []  # polygon being clicked
        self._drag: tuple | None = None                 # what the drag in progress does

    # ---- state -----------------------------------------------------------------------------
    def set_document(self, doc: AnnotationDocument | None) -> None:
        self.doc = doc
        self.cancel()
        self.select([])

    def set_tool(self, tool: Tool) -> None:
        """Make ``tool`` the active tool: from now on it owns the slide's left clicks."""
        self.cancel()
        self.tool, self.active = tool, True
        self.attach()
        self.message.emit(f"{TOOLS[tool][0].replace('&', '')} ({TOOLS[tool][1]}): {HINTS[tool]}")

    def release(self) -> None:
        """Give the slide's left button up (an Interventions selection tool was chosen): nothing is
        drawn or selected by clicks until :meth:`set_tool` is called again."""
        self.cancel()
        self.active = False
        self.attach()

    def attach(self) -> None:
        """Be the view box's tool while active with a document open, else leave it ``None``."""
        self.view.view_box.tool = self if self.doc is not None and self.active else None

    def hover(self, x: float, y: float) -> None:
        """The cursor is at level-0 ``(x, y)``: with the brush, its outline is drawn there; while a
        polygon is being clicked, its outline runs through the cursor (the next vertex)."""
        if self.tool == "polygon" and self._vertices and self._drag is None:
            self.overlay.show_preview(line=np.array([*self._vertices, (x, y), self._vertices[0]]))
        if self.tool == "brush" and self.doc is not None and self.active:
            self.overlay.show_cursor(shapely.Point(x, y).buffer(self._px(self.brush_px) / 2, 32))
        else:
            self.overlay.show_cursor(None)

    def resize_brush(self, factor: float) -> None:
        """Brush diameter × ``factor``, kept within 4–400 screen px."""
        self.brush_px = float(min(max(self.brush_px * factor, 4.0), 400.0))
        self.message.emit(f"brush: {self.brush_px:.0f} screen px")

    def _locked(self, uids) -> bool:
        if self.doc is not None and any(self.doc.get(u).locked for u in uids):
            self.message.emit("locked: unlock it first (right-click › Unlock)")
            return True
        return False

    def _solid(self, geometry):
        """``geometry`` if it is at least :data:`MIN_THICKNESS_PX` screen px thick somewhere; else
        ``ValueError`` (nothing is drawn)."""
        if geometry.is_empty or geometry.buffer(-self._px(MIN_THICKNESS_PX) / 2).is_empty:
            raise ValueError(f"the shape is thinner than {MIN_THICKNESS_PX:.0f} screen pixels")
        return geometry

    def select(self, uids: list[str]) -> None:
        self.selected = [u for u in uids if self.doc is not None and any(a.uid == u for a in self.doc.items)]
        self.overlay.show_selection(self.doc, self.selected)
        self.selection_changed.emit()

    def cancel(self) -> None:
        """Drop a shape being drawn (Esc)."""
        self._vertices, self._drag = [], None
        self.overlay.show_preview(None)
        self.overlay.show_ruler(None)
        self.overlay.show_cursor(None)

    def escape(self) -> None:
        """Esc: drop the shape being drawn; with nothing being drawn, clear the selection (as QuPath
        does), so the next point starts a new point set."""
        if self._vertices or self._drag is not None:
            self.cancel()
        else:
            self.overlay.show_ruler(None)
            self.select([])

    def _px(self, screen_px: float) -> float:
        """``screen_px`` screen pixels in level-0 px at the current zoom."""
        return screen_px / max(self.view.scale(), 1e-12)

    # ---- the view box's hooks --------------------------------------------------------------
    def click(self, x: float, y: float, modifiers: int, double: bool) -> bool:
        """A left click; True when the tool used it. The view box gives an active tool every left
        click and never passes one on (an unused click does nothing more)."""
        if self.doc is None:
            return False
        if self.tool == "move":
            uid = self.doc.hit(x, y, self._px(self.handle_px))
            if modifiers & _SHIFT and uid is not None:
                self.select([u for u in self.selected if u != uid] if uid in self.selected else [*self.selected, uid])
            else:
                self.select([uid] if uid is not None else [])
            if uid is None:
                self.missed.emit(x, y)
            return uid is not None or bool(self.selected)
        if self.tool == "points":
            target = next((u for u in self.selected if self.doc.get(u).kind == "points"
                           and self.doc.get(u).classification == self.current_class), None)
            uid = self.doc.add_point(target, x, y, self.current_class)
            self.select([uid])
            return True
        if self.tool == "polygon":
            if double:
                self.finish_polygon()
            else:
                self._vertices.append((x, y))
                self.overlay.show_preview(line=np.array([*self._vertices, self._vertices[0]]))
            return True
        return self.tool in ("rectangle", "ellipse", "brush", "ruler")

    def drag_start(self, x: float, y: float, modifiers: int) -> bool:
        """Whether the left drag starting at ``(x, y)`` is the tool's (else the view pans)."""
        if self.doc is None:
            return False
        if self.tool == "move":
            tol = self._px(self.handle_px)
            uid = self.doc.hit(x, y, tol)
            handle = None
            if len(self.selected) == 1 and self.overlay.handles_shown:
                v = self.doc.vertices(self.selected[0])
                d = np.hypot(v[:, 0] - x, v[:, 1] - y)
                handle = int(d.argmin()) if len(d) and d.min() <= tol else None
            if (handle is not None or uid in self.selected) and self._locked(self.selected):
                return True  # a locked selection: the drag does nothing (rather than pan away from it)
            if handle is not None:
                self._drag = ("vertex", self.selected[0], handle)
                return True
            if uid is not None and uid in self.selected:
                self._drag = ("move", (x, y), (x, y))
                return True
            return False
        if self.tool in ("rectangle", "ellipse", "ruler"):
            self._drag = (self.tool, (x, y))
            return True
        if self.tool == "polygon":
            self._drag = ("freehand", [(x, y)])
            return True
        if self.tool == "brush":
            selected = self.selected[0] if len(self.selected) == 1 else None
            into = selected if selected is not None and self.doc.get(selected).kind == "region" and \
                not self.doc.get(selected).locked and \
                self.doc.get(selected).geometry.buffer(self._px(self.brush_px) / 2).contains(shapely.Point(x, y)) else None
            self._drag = ("brush", [(x, y)], into, bool(modifiers & _ALT))
            self._paint_preview()
            return True
        return False

    def drag_move(self, x: float, y: float) -> None:
        kind = self._drag[0] if self._drag else None
        if kind in ("rectangle", "ellipse"):
            x0, y0 = self._drag[1]
            self.overlay.show_preview((rectangle if kind == "rectangle" else ellipse)(x0, y0, x, y))
        elif kind == "ruler":
            self.overlay.show_ruler(self._drag[1], (x, y), self._length_text(self._drag[1], (x, y)))
        elif kind in ("freehand", "brush"):
            self._drag[1].append((x, y))
            if kind == "freehand":
                self.overlay.show_preview(line=np.array(self._drag[1]))
            else:
                self._paint_preview()
        elif kind == "move":
            self._drag = ("move", self._drag[1], (x, y))
            dx, dy = x - self._drag[1][0], y - self._drag[1][1]
            moved = [shapely.affinity.translate(self.doc.get(u).geometry, dx, dy) for u in self.selected]
            self.overlay.show_preview(shapely.union_all([g for g in moved if g.geom_type != "MultiPoint"])
                                      if moved else None)
        elif kind == "vertex":
            v = self.doc.vertices(self._drag[1])
            v[self._drag[2]] = (x, y)
            self.overlay.show_preview(line=np.vstack([v, v[:1]]))

    def drag_end(self, x: float, y: float) -> None:
        drag, self._drag = self._drag, None
        self.overlay.show_preview(None)
        if drag is None or self.doc is None:
            return
        kind = drag[0]
        try:
            if kind in ("rectangle", "ellipse"):
                x0, y0 = drag[1]
                shape = (rectangle if kind == "rectangle" else ellipse)(x0, y0, x, y)
                self.select([self.doc.add(self._solid(shape), self.current_class)])
            elif kind == "ruler":
                text = self._length_text(drag[1], (x, y))
                self.overlay.show_ruler(drag[1], (x, y), text)
                self.measured.emit(text)
            elif kind == "freehand":
                pts = [*drag[1], (x, y)]
                if len(pts) < 3:
                    raise ValueError("a freehand outline needs a drag")
                self.select([self.doc.add(self._solid(shapely.make_valid(Polygon(pts))), self.current_class)])
            elif kind == "brush":
                self._brush_commit(drag, (x, y))
            elif kind == "move":
                dx, dy = drag[2][0] - drag[1][0], drag[2][1] - drag[1][1]
                if dx or dy:
                    self.doc.move(self.selected, dx, dy)
                    self.select(self.selected)
            elif kind == "vertex":
                self.doc.move_vertex(drag[1], drag[2], x, y)
                self.select(self.selected)
        except ValueError as exc:  # a shape with no area (a click-sized drag)
            self.message.emit(f"nothing drawn: {exc}")

    # ---- helpers ---------------------------------------------------------------------------
    def finish_polygon(self) -> None:
        """Close the polygon being clicked (double-click or Enter); fewer than 3 vertices: dropped."""
        pts, self._vertices = self._vertices, []
        self.overlay.show_preview(None)
        if self.doc is not None and len(pts) >= 3:
            try:
                self.select([self.doc.add(self._solid(shapely.make_valid(Polygon(pts))), self.current_class)])
            except ValueError as exc:
                self.message.emit(f"nothing drawn: {exc}")

    def _stroke(self, pts) -> object:
        r = self._px(self.brush_px) / 2
        return shapely.Point(pts[0]).buffer(r) if len(pts) == 1 else LineString(pts).buffer(r)

    def _paint_preview(self) -> None:
        self.overlay.show_preview(self._stroke(self._drag[1]))

    def _brush_commit(self, drag, last) -> None:
        _, pts, into, erase = drag
        stroke = self._stroke([*pts, last])
        if into is None:
            if not erase:
                self.select([self.doc.add(stroke, self.current_class)])
            return
        geom = self.doc.get(into).geometry
        new = geom.difference(stroke) if erase else geom.union(stroke)
        if new.is_empty:
            self.doc.remove([into])
            self.select([])
            return
        self.doc.set_geometry(into, new)
        self.select([into])

    def _length_text(self, a, b) -> str:
        px = math.hypot(b[0] - a[0], b[1] - a[1])
        if not self.mpp:
            return f"{px:.0f} px"
        um = px * self.mpp
        return f"{um / 1000:.2f} mm" if um >= 1000 else f"{um:.1f} µm"
