"""The slide view: a pyqtgraph ViewBox in level-0 pixels (y down) with tiles, overlays and HUD.

The view follows a :class:`core.review.camera.Camera` (Qt-free: centre in level-0 px, zoom in
screen px per level-0 px), given at construction or a new one. Wheel zoom about the cursor and drag
pan come from the ViewBox and are written into the camera; arrows pan, +/- zoom, ``fit``,
``one_to_one`` and ``set_magnification`` set the camera, and any change of the camera (from this
view or another view sharing it) is shown. Range changes are coalesced by a 0-ms single-shot timer
so a burst of wheel events triggers one tile request. A resize keeps the camera (zoom and centre);
a view whose last navigation was ``fit`` fits again.
The view takes the keyboard focus when a slide opens. Scenario tests that drive it with real input
and compare the painted view with the slide: docs/viewer_scenarios.md.

Signals
-------
view_changed(x0: float, y0: float, x1: float, y1: float, scale: float)
    After the coalesced update (level-0 viewport and screen px per level-0 px).
cursor_moved(x: float, y: float)
    Cursor position in level-0 px.
clicked(x: float, y: float, modifiers: int)
    A left click (no drag) in level-0 px, while no annotation tool owns the left button.
box_drawn(x0: float, y0: float, x1: float, y1: float)
    In box mode (:meth:`SlideView.set_box_mode`): a left press-drag-release drew this rectangle
    (level-0 px, ``x0 <= x1``, ``y0 <= y1``); the drag does not pan.
context_requested(x: float, y: float, global_pos: QPoint)
    A right click at level-0 ``(x, y)``: the window shows the view's context menu there.
message(text: str)
    Status-bar text.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from app.viewer.hud import ColorBar, Minimap, ScaleBar
from app.viewer.tile_layer import TileLayer
from core.review.camera import Camera

__all__ = ["SlideView", "MAGNIFICATIONS"]

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
MAGNIFICATIONS = (1.0, 2.5, 5.0, 10.0, 20.0, 40.0)


class _ViewBox(pg.ViewBox):
    """ViewBox that reports left clicks in level-0 px, tells when a range change comes from a resize,
    and in box mode turns a left drag into a rubber band (``box_drawn`` on release) instead of a pan.

    The left button has one owner (docs/annotate.md, "Who gets a click"): while an annotation tool is
    set (``tool``) it gets every left click, used or not, and the left drags it claims (the others
    pan); only with no tool set does a click become ``clicked`` and box mode draw its box (the
    Interventions selection tools)."""

    clicked = Signal(float, float, int)
    resized = Signal()
    box_drawn = Signal(float, float, float, float)
    context_requested = Signal(float, float, object)  # level-0 x, y and the global QPoint of a right click

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resizing = False  # True while pyqtgraph adapts the range to a new size (not a navigation)
        self.box_mode = False
        self.rubber_band: QGraphicsRectItem | None = None
        self.tool = None  # an annotation tool (app/annotate/tools.py) taking left clicks and drags, or None
        self.space_pan = False  # space held: left drags pan whatever the tool
        self._tool_drag = False  # the drag in progress belongs to the tool

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph naming
        left = ev.button() == Qt.MouseButton.LeftButton
        if left and ev.isStart():
            a = self.mapToView(ev.buttonDownPos())
            self._tool_drag = (self.tool is not None and not self.space_pan
                               and self.tool.drag_start(a.x(), a.y(), int(ev.modifiers().value)))
        if left and self._tool_drag:
            ev.accept()
            p = self.mapToView(ev.pos())
            if ev.isFinish():
                self._tool_drag = False
                self.tool.drag_end(p.x(), p.y())
            else:
                self.tool.drag_move(p.x(), p.y())
            return
        if not (self.box_mode and left and not self.space_pan and self.tool is None):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        a, b = self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())
        rect = QRectF(a, b).normalized()
        if self.rubber_band is None:
            band = QGraphicsRectItem()
            pen = QPen(QColor(20, 90, 230), 2)
            pen.setCosmetic(True)  # 2 screen px at any zoom
            band.setPen(pen)
            band.setBrush(QBrush(QColor(20, 90, 230, 40)))
            band.setZValue(1000)
            self.addItem(band, ignoreBounds=True)
            self.rubber_band = band
        self.rubber_band.setRect(rect)
        self.rubber_band.setVisible(not ev.isFinish())
        if ev.isFinish():
            self.box_drawn.emit(rect.left(), rect.top(), rect.right(), rect.bottom())

    def resizeEvent(self, ev):  # noqa: N802 - Qt naming
        self.resizing = True
        try:
            super().resizeEvent(ev)
        finally:
            self.resizing = False
        self.resized.emit()

    def mouseClickEvent(self, ev):  # noqa: N802 - Qt naming
        p = self.mapSceneToView(ev.scenePos())
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if self.tool is not None:  # the annotation tool owns the click, even one it does not use
                self.tool.click(p.x(), p.y(), int(ev.modifiers().value), ev.double())
                return
            self.clicked.emit(p.x(), p.y(), int(ev.modifiers().value))
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.context_requested.emit(p.x(), p.y(), ev.screenPos().toPoint())
        else:
            super().mouseClickEvent(ev)


class SlideView(QWidget):
    """Shows one slide (or nothing) with its overlays; see the module docstring for signals."""

    view_changed = Signal(float, float, float, float, float)
    cursor_moved = Signal(float, float)
    clicked = Signal(float, float, int)
    box_drawn = Signal(float, float, float, float)
    context_requested = Signal(float, float, object)
    message = Signal(str)

    BOX_HINT = ("Box selection: press, drag and release in the slide to select the patches inside "
                "(middle-drag or the arrow keys pan)")

    def __init__(self, parent: QWidget | None = None, *, tile_workers: int = 4, naive_tiles: bool = False,
                 camera: Camera | None = None) -> None:
        super().__init__(parent)
        self.camera = camera or Camera()
        self.camera.changed.connect(self._camera_changed)
        self.graphics = pg.GraphicsView(background=(245, 245, 245))
        self.view_box = _ViewBox(invertY=True, lockAspect=True, enableMenu=False)
        self.view_box.setMouseEnabled(True, True)
        self.graphics.setCentralItem(self.view_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.scale_bar = ScaleBar(self.graphics)
        self.colorbar = ColorBar(self.graphics)
        self.minimap = Minimap(self.graphics)
        self.minimap.jump.connect(self.center_on)
        self.tiles: TileLayer | None = None
        self.reader = None
        self.colour: tuple = ()  # display transforms of the shown slide (core.slide.colour), in order
        self.tile_workers = tile_workers
        self.naive_tiles = naive_tiles  # benchmark baseline only (see TileLayer)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._apply_view)
        self.view_box.sigRangeChanged.connect(self._range_changed)
        self.view_box.resized.connect(self._resized)
        self._fitted = True  # the last navigation was fit(): a resize fits again
        self._fitting = False
        self.view_box.clicked.connect(self.clicked)
        self.view_box.box_drawn.connect(self.box_drawn)
        self.view_box.context_requested.connect(self.context_requested)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # ---- slide ---------------------------------------------------------------------------
    def set_slide(self, reader) -> None:
        """Show ``reader`` (a core SlideReader) or nothing (``None``); fits the view."""
        if self.tiles is not None:
            self.tiles.shutdown()
            self.tiles = None
        self.reader = reader
        self.scale_bar.mpp = getattr(reader, "mpp", None)
        if reader is None:
            self.minimap.set_slide(None)
            return
        self.colour = ()
        self._make_tiles()
        self.fit()
        self._apply_view()
        self.setFocus(Qt.FocusReason.OtherFocusReason)  # arrows and +/- act on the new slide without a click

    def _make_tiles(self) -> None:
        from core.slide.colour import ColouredSource

        source = ColouredSource(self.reader, self.colour) if self.colour else self.reader
        self.tiles = TileLayer(self.view_box, source, workers=self.tile_workers, naive=self.naive_tiles, parent=self)
        self.minimap.set_slide(self.reader, self.tiles.thumbnail_rgba)
        self.tiles.message.connect(self.message)
        for text in self.tiles.errors:
            self.message.emit(text)

    def set_colour(self, transforms) -> None:
        """Draw the shown slide through ``transforms`` (core.slide.colour: ICC to sRGB, stain
        normalisation; applied in the tile workers), keeping the place in the slide; ``()`` = the
        file's own pixels. Tiles read before are dropped and read again."""
        transforms = tuple(transforms)
        if self.reader is None or transforms == self.colour:
            return
        self.colour = transforms
        if self.tiles is not None:
            self.tiles.shutdown()
        self._make_tiles()
        self._apply_view()

    def is_filled(self) -> bool:
        """Whether the view is up to date: no view change pending and every visible tile drawn."""
        return self.tiles is not None and not self._timer.isActive() and self.tiles.is_filled()

    def shutdown(self) -> None:
        """Stop tile workers and stop following the camera (called when the window closes)."""
        self._timer.stop()
        self.camera.changed.disconnect(self._camera_changed)
        if self.tiles is not None:
            self.tiles.shutdown()
            self.tiles = None

    # ---- tools ---------------------------------------------------------------------------
    def set_box_mode(self, on: bool) -> None:
        """Left drags draw a selection box (``box_drawn``) instead of panning; a hint goes to the status bar."""
        self.view_box.box_mode = bool(on)
        if on:
            self.message.emit(self.BOX_HINT)
        elif self.view_box.rubber_band is not None:
            self.view_box.rubber_band.setVisible(False)

    @property
    def rubber_band(self) -> QGraphicsRectItem | None:
        """The box being drawn (hidden once released), or ``None`` before the first box."""
        return self.view_box.rubber_band

    # ---- navigation ----------------------------------------------------------------------
    def viewport(self) -> tuple[float, float, float, float]:
        """Visible rectangle ``(x0, y0, x1, y1)`` in level-0 px."""
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        return x0, y0, x1, y1

    def scale(self) -> float:
        """Screen pixels per level-0 pixel."""
        x0, _, x1, _ = self.viewport()
        return max(self.view_box.width(), 1.0) / max(x1 - x0, 1e-9)

    def fit(self) -> None:
        """Show the whole slide; it stays fitted through resizes until the next navigation."""
        if self.reader is not None:
            w, h = self.reader.dimensions
            self._fitting = True
            try:
                self.view_box.setRange(QRectF(0, 0, w, h), padding=0.02)
                self._write_camera()  # also when the range was already there (a new camera)
            finally:
                self._fitting = False
            self._fitted = True

    def show_region(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Show the level-0 rectangle ``(x0, y0)``–``(x1, y1)`` whole (the zoom that fits it in this
        view; e.g. a restored session's view); the camera moves there."""
        self._fitted = False
        self.view_box.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0)
        self._write_camera()  # also when the range was already there

    def stop_fitting(self) -> None:
        """From now on a resize keeps the camera instead of fitting the slide again (until the next
        :meth:`fit`); a view that shares its camera with other views is not fitted on its own."""
        self._fitted = False

    def set_camera(self, camera: Camera) -> None:
        """Follow ``camera`` from now on: show its place, or give it this view's place when it has none
        yet (:attr:`Camera.is_set`)."""
        if camera is self.camera:
            return
        self.camera.changed.disconnect(self._camera_changed)
        self.camera = camera
        camera.changed.connect(self._camera_changed)
        if camera.is_set:
            self._fitted = False
            self._show_camera()
        elif self.reader is not None:
            self._write_camera()

    def _write_camera(self) -> None:
        x0, y0, x1, y1 = self.viewport()
        self.camera.set(((x0 + x1) / 2.0, (y0 + y1) / 2.0), self.scale(), source=self)

    def _range_changed(self, *_args) -> None:
        # a user navigation (wheel, drag) or the camera being shown; not a resize, not a fit
        if not self.view_box.resizing and not self._fitting:
            self._fitted = False
            self._write_camera()  # no-op when the range shows the camera already
        self._timer.start()

    def _camera_changed(self, source) -> None:
        if source is not self:
            self._fitted = False  # another view (or code) moved the camera: a navigation
            self._show_camera()

    def _show_camera(self) -> None:
        """Set the ViewBox range to what the camera shows at this view's size."""
        if self.view_box.width() < 2 or self.view_box.height() < 2:
            return  # not laid out yet: shown at the first resize
        x0, y0, x1, y1 = self.camera.viewport(self.view_box.width(), self.view_box.height())
        self.view_box.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0)

    def _resized(self) -> None:
        """A resize keeps the camera (zoom in screen px per level-0 px, and centre), or refits a fitted
        view (pyqtgraph alone would keep the visible range, so a pane laid out from a small size changed
        its zoom, and panes sharing the camera followed it: the slide shrank to a dot)."""
        if self.reader is None or self.view_box.width() < 2 or self.view_box.height() < 2:
            return
        if self._fitted:
            self.fit()
        elif self.camera.is_set:
            self._show_camera()

    def set_scale(self, scale: float, centre: tuple[float, float] | None = None) -> None:
        """Zoom to ``scale`` screen px per level-0 px about ``centre`` (default: the view centre)."""
        x0, y0, x1, y1 = self.viewport()
        self._look(centre or ((x0 + x1) / 2, (y0 + y1) / 2), scale)

    def _look(self, centre: tuple[float, float], scale: float) -> None:
        """Navigate: move the camera (every view following it shows the change), or show it here
        when it is already there."""
        self._fitted = False
        if not self.camera.set(centre, scale):
            self._show_camera()

    def one_to_one(self) -> None:
        self.set_scale(1.0)

    def native_magnification(self) -> float | None:
        """Objective power of level 0 (from the slide, else ``10 / mpp``)."""
        if self.reader is None:
            return None
        if self.reader.objective_power:
            return float(self.reader.objective_power)
        return 10.0 / self.reader.mpp if self.reader.mpp else None

    def set_magnification(self, mag: float) -> None:
        """Show the slide as under a ``mag``× objective (1:1 at the native objective)."""
        native = self.native_magnification()
        if native is None:
            self.message.emit("the slide states no objective power or µm per pixel; magnification unknown")
            return
        self.set_scale(mag / native)

    def zoom(self, factor: float) -> None:
        self.set_scale(self.scale() * factor)

    def pan(self, fx: float, fy: float) -> None:
        """Pan by fractions of the view size."""
        x0, y0, x1, y1 = self.viewport()
        self._look(((x0 + x1) / 2 + fx * (x1 - x0), (y0 + y1) / 2 + fy * (y1 - y0)), self.scale())

    def center_on(self, x: float, y: float) -> None:
        """Put level-0 point ``(x, y)`` in the middle of the view (zoom unchanged)."""
        self._look((x, y), self.scale())

    def keyPressEvent(self, ev):  # noqa: N802 - Qt naming
        k = ev.key()
        moves = {Qt.Key.Key_Left: (-0.2, 0), Qt.Key.Key_Right: (0.2, 0),
                 Qt.Key.Key_Up: (0, -0.2), Qt.Key.Key_Down: (0, 0.2)}
        if k == Qt.Key.Key_Space:
            if not ev.isAutoRepeat():
                self.view_box.space_pan = True  # QuPath's habit: hold space to pan with any tool
        elif k in moves:
            self.pan(*moves[k])
        elif k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.5)
        elif k == Qt.Key.Key_Minus:
            self.zoom(1 / 1.5)
        else:
            super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev):  # noqa: N802 - Qt naming
        if ev.key() == Qt.Key.Key_Space and not ev.isAutoRepeat():
            self.view_box.space_pan = False
        super().keyReleaseEvent(ev)

    # ---- updates -------------------------------------------------------------------------
    def _apply_view(self) -> None:
        if self.reader is None:
            return
        vp, s = self.viewport(), self.scale()
        if self.tiles is not None:
            self.tiles.update_view(vp, s)
        self.scale_bar.set_scale(s)
        self.minimap.set_viewport(vp)
        self.view_changed.emit(*vp, s)

    def _mouse_moved(self, pos: QPointF) -> None:
        if self.view_box.sceneBoundingRect().contains(pos):
            p = self.view_box.mapSceneToView(pos)
            self.cursor_moved.emit(p.x(), p.y())

    def resizeEvent(self, ev):  # noqa: N802 - Qt naming
        super().resizeEvent(ev)
        self.scale_bar.place()
        self.colorbar.place()
        self.minimap.place()
