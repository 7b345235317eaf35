"""Heads-up widgets drawn over the slide view: scale bar (µm), colorbar, minimap, outline legend.

Each is a small child widget of the view's GraphicsView, painted with QPainter and re-placed in
the corners by :meth:`place` when the view is resized.

Signals
-------
Minimap.jump(x: float, y: float)
    The user clicked the minimap at level-0 ``(x, y)``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from core.review.export import nice_length_um

__all__ = ["ScaleBar", "ColorBar", "Minimap", "Legend", "rgba_to_qimage"]


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """(h, w, 4) or (h, w, 3) uint8 -> a QImage owning a copy of the pixels."""
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    if a.shape[2] == 3:
        a = np.ascontiguousarray(np.concatenate([a, np.full(a.shape[:2] + (1,), 255, np.uint8)], axis=2))
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class _Hud(QWidget):
    corner = "bl"

    def __init__(self, parent: QWidget, size: tuple[int, int]) -> None:
        super().__init__(parent)
        self.resize(*size)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, not isinstance(self, Minimap))

    def place(self) -> None:
        p = self.parentWidget()
        m = 10
        x = m if self.corner[1] == "l" else p.width() - self.width() - m
        y = m if self.corner[0] == "t" else p.height() - self.height() - m
        self.move(x, y)
        self.raise_()


class ScaleBar(_Hud):
    """A bar of a round length in µm (hidden when the slide has no µm per pixel)."""

    corner = "bl"

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, (180, 34))
        self.mpp: float | None = None
        self.length_um = 0.0
        self.length_px = 0.0

    def set_scale(self, screen_px_per_level0_px: float) -> None:
        if not self.mpp:
            self.hide()
            return
        um_per_screen_px = self.mpp / screen_px_per_level0_px
        self.length_um = nice_length_um(150 * um_per_screen_px)
        self.length_px = self.length_um / um_per_screen_px
        self.show()
        self.update()

    def label(self) -> str:
        return f"{self.length_um / 1000:g} mm" if self.length_um >= 1000 else f"{self.length_um:g} µm"

    def paintEvent(self, ev):  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(255, 255, 255, 200))
        p.setPen(QPen(QColor(0, 0, 0), 3))
        p.drawLine(QPointF(8, 24), QPointF(8 + self.length_px, 24))
        p.setPen(QColor(0, 0, 0))
        p.drawText(QRectF(8, 2, 170, 18), Qt.AlignmentFlag.AlignLeft, self.label())
        p.end()


class ColorBar(_Hud):
    """The LUT of the map in focus (the scalar layer selected in the Layers panel when visible, else
    the top visible one: :func:`core.review.layer_roles.map_in_focus`) with its name, units and
    normalisation in words."""

    corner = "tr"

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, (250, 62))
        self.title = ""
        self.note = ""
        self.ends = ("", "")
        self.lut: np.ndarray | None = None  # the (256, 4) LUT shown
        self._image: QImage | None = None
        self.hide()

    def set_layer(self, lut: np.ndarray | None, title: str = "", note: str = "",
                  ends: tuple[str, str] = ("", "")) -> None:
        """Show a (256, 4) uint8 LUT with a title, a note (normalisation) and end labels; ``None`` hides."""
        self.lut = lut
        if lut is None:
            self.hide()
            return
        self._image = rgba_to_qimage(np.asarray(lut)[None, :, :])
        self.title, self.note, self.ends = title, note, ends
        self.resize(250, 62 + 14 * (len(self.note_lines()) - 1))  # one more line per display option
        self.show()
        self.place()
        self.update()

    def paintEvent(self, ev):  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(255, 255, 255, 215))
        f = QFont(p.font())
        f.setPointSizeF(8.5)
        p.setFont(f)
        p.setPen(QColor(0, 0, 0))
        p.drawText(QRectF(6, 1, 238, 15), Qt.AlignmentFlag.AlignLeft, self.title)
        if self._image is not None:
            p.drawImage(QRectF(6, 18, 238, 12), self._image)
        p.drawText(QRectF(6, 31, 238, 14), Qt.AlignmentFlag.AlignLeft, self.ends[0])
        p.drawText(QRectF(6, 31, 238, 14), Qt.AlignmentFlag.AlignRight, self.ends[1])
        p.setPen(QColor(60, 60, 60))
        for i, line in enumerate(self.note_lines()):
            p.drawText(QRectF(6, 45 + 14 * i, 238, 15), Qt.AlignmentFlag.AlignLeft, line)
        p.end()

    def note_lines(self) -> list[str]:
        """The note, one line per ``"; "``-separated part (normalisation, smoothing, clipping)."""
        return [part for part in self.note.split("; ") if part] or [""]


class Minimap(_Hud):
    """Overview thumbnail with the field of view; a click jumps there."""

    corner = "br"
    jump = Signal(float, float)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, (200, 150))
        self._image: QImage | None = None
        self.dims = (1, 1)
        self.viewport = (0.0, 0.0, 0.0, 0.0)
        self.hide()

    def set_slide(self, reader, overview: np.ndarray | None = None) -> None:
        """Show ``reader``'s overview ((h, w, 3|4) uint8, read from the slide when not given)."""
        if reader is None:
            self._image = None
            self.hide()
            return
        self.dims = reader.dimensions
        try:
            self._image = rgba_to_qimage(overview if overview is not None else reader.get_thumbnail((400, 400)))
        except Exception:  # noqa: BLE001 - the tile layer reports unreadable slides
            self._image = None
        w, h = self.dims
        s = min(200 / w, 150 / h)
        self.resize(max(int(w * s), 20), max(int(h * s), 20))
        self.show()
        self.place()

    def set_viewport(self, viewport: tuple[float, float, float, float]) -> None:
        self.viewport = viewport
        self.update()

    def _k(self) -> float:
        return self.width() / self.dims[0]

    def paintEvent(self, ev):  # noqa: N802
        p = QPainter(self)
        if self._image is not None:
            p.drawImage(QRectF(self.rect()), self._image)
        p.setPen(QPen(QColor(0, 0, 0), 1))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        k = self._k()
        x0, y0, x1, y1 = self.viewport
        p.setPen(QPen(QColor(230, 30, 30), 2))
        p.drawRect(QRectF(x0 * k, y0 * k, (x1 - x0) * k, (y1 - y0) * k).intersected(QRectF(self.rect())))
        p.end()

    def mousePressEvent(self, ev):  # noqa: N802
        k = self._k()
        self.jump.emit(ev.position().x() / k, ev.position().y() / k)
        ev.accept()


class Legend(_Hud):
    """Swatches and names of the outlined layers shown (subsets, regions), top-left of the view.

    It re-places itself when its parent (the GraphicsView) is resized.
    """

    corner = "tl"
    _ROW = 16

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, (10, 10))
        self.entries: list[tuple[str, tuple[int, int, int]]] = []
        parent.installEventFilter(self)
        self.hide()

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt naming
        if obj is self.parentWidget() and ev.type() == QEvent.Type.Resize and self.isVisible():
            self.place()
        return False

    def set_entries(self, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
        """Show ``(name, (r, g, b))`` rows, top layer first; an empty list hides the legend."""
        self.entries = list(entries)
        if not self.entries:
            self.hide()
            return
        metrics = QFontMetrics(self._font())
        width = max(metrics.horizontalAdvance(name) for name, _ in self.entries)
        self.resize(min(34 + width, 320), 6 + self._ROW * len(self.entries))
        self.show()
        self.place()
        self.update()

    def _font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(8.5)
        return f

    def paintEvent(self, ev):  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(255, 255, 255, 215))
        p.setFont(self._font())
        for i, (name, colour) in enumerate(self.entries):
            y = 3 + self._ROW * i
            box = QRectF(6, y + 3, 18, 10)  # a solid swatch with a thin dark frame (yellow on white)
            p.fillRect(box, QColor(*colour))
            p.setPen(QPen(QColor(60, 60, 60), 1))
            p.drawRect(box)
            p.setPen(QColor(0, 0, 0))
            p.drawText(QRectF(30, y, self.width() - 32, self._ROW), Qt.AlignmentFlag.AlignVCenter, name)
        p.end()
