"""A swipe (curtain) between two overlays in one slide view.

Map B's items are children of a clipping rectangle spanning from the left edge of the slide to a
draggable vertical line, map A's of one spanning from the line to the right edge, so left of the
line shows only B and right of it only A. The clip is exact to the level-0 pixel, not to the patch
grid. Two labels at the top of the view, either side of the line, name the map on each side
(:meth:`SwipeController.set_labels`); they follow the line and the view.

Signals
-------
SwipeController.moved(x: float)
    The curtain moved to level-0 x.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QBrush, QPen, Qt
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

__all__ = ["SwipeController"]

_Z = 500.0


class SwipeController(QObject):
    """Clip overlay items to ``x < position`` (B) and ``x >= position`` (A); a draggable line at ``position``."""

    moved = Signal(float)

    def __init__(self, view_box: pg.ViewBox, bounds: tuple[float, float, float, float], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view_box = view_box
        self.bounds = bounds  # (x, y, w, h) level-0 rectangle the overlays may cover
        self.clip, self.clip_right = QGraphicsRectItem(), QGraphicsRectItem()
        for z, clip in ((_Z, self.clip), (_Z - 1, self.clip_right)):
            clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
            clip.setPen(QPen(Qt.PenStyle.NoPen))
            clip.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            clip.setZValue(z)
            view_box.addItem(clip, ignoreBounds=True)
        x, _, w, _ = bounds
        self.line = pg.InfiniteLine(pos=x + w / 2.0, angle=90, movable=True, pen=pg.mkPen((255, 255, 255), width=3),
                                    hoverPen=pg.mkPen((255, 200, 0), width=4))
        self.line.setZValue(_Z + 1)
        view_box.addItem(self.line)
        self.labels = []
        for anchor in ((1.0, 0.0), (0.0, 0.0)):  # left of the line: right-aligned; right of it: left-aligned
            label = pg.TextItem("", color=(255, 255, 255), anchor=anchor, fill=pg.mkBrush(0, 0, 0, 170))
            label.setZValue(_Z + 2)
            view_box.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        self.line.sigPositionChanged.connect(lambda *_: self._update())
        view_box.sigRangeChanged.connect(self._place_labels)
        self._update()

    def set_labels(self, left: str, right: str) -> None:
        """Name the maps: ``left`` of the line (map B) and ``right`` of it (map A)."""
        self.labels[0].setText(f"◀ {left}" if left else "")
        self.labels[1].setText(f"{right} ▶" if right else "")
        self._place_labels()

    def label_texts(self) -> tuple[str, str]:
        return self.labels[0].toPlainText(), self.labels[1].toPlainText()

    def _place_labels(self, *_args) -> None:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        top = min(y0, y1) + 0.01 * abs(y1 - y0)
        x = min(max(self.position, x0), x1)
        for label in self.labels:
            label.setPos(x, top)

    @property
    def position(self) -> float:
        """The curtain's level-0 x."""
        return float(self.line.value())

    def set_position(self, x: float) -> None:
        self.line.setValue(float(x))

    def set_items(self, left: list, right: list = ()) -> None:
        """Clip ``left`` items (map B) to the left of the line and ``right`` items (map A) to its right
        (overlay items already in the ViewBox; their owner still removes them)."""
        for item in left:
            item.setParentItem(self.clip)
        for item in right:
            item.setParentItem(self.clip_right)

    def _update(self) -> None:
        x, y, w, h = self.bounds
        right = min(max(self.position, x), x + w)
        self.clip.setRect(QRectF(x, y, right - x, h))
        self.clip_right.setRect(QRectF(right, y, x + w - right, h))
        self._place_labels()
        self.moved.emit(self.position)

    def remove(self) -> None:
        """Take the curtain, its labels and its items out of the view."""
        self.view_box.sigRangeChanged.disconnect(self._place_labels)
        for label in self.labels:
            self.view_box.removeItem(label)
        self.view_box.removeItem(self.clip)
        self.view_box.removeItem(self.clip_right)
        self.view_box.removeItem(self.line)
