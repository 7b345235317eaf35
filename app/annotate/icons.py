"""Small tool icons drawn with QPainter (no image files to ship): one per annotation tool."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

__all__ = ["tool_icon"]


def tool_icon(tool: str, size: int = 24) -> QIcon:
    """The icon of ``tool`` (``move``, ``rectangle``, ``ellipse``, ``polygon``, ``brush``, ``points``, ``ruler``)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(40, 40, 40), 2)
    p.setPen(pen)
    s, m = float(size), 4.0
    if tool == "move":
        p.setBrush(QColor(40, 40, 40))
        p.drawPolygon(QPolygonF([QPointF(m + 2, m), QPointF(m + 2, s - m - 2), QPointF(m + 7, s - m - 7),
                                 QPointF(s - m - 4, s - m - 4), QPointF(s - m - 2, s - m - 6), QPointF(m + 9, m + 9)]))
    elif tool == "rectangle":
        p.drawRect(QRectF(m, m + 3, s - 2 * m, s - 2 * m - 6))
    elif tool == "ellipse":
        p.drawEllipse(QRectF(m, m + 2, s - 2 * m, s - 2 * m - 4))
    elif tool == "polygon":
        p.drawPolygon(QPolygonF([QPointF(m, s * 0.45), QPointF(s * 0.45, m), QPointF(s - m, s * 0.35),
                                 QPointF(s * 0.75, s - m), QPointF(s * 0.25, s - m - 2)]))
    elif tool == "brush":
        p.setPen(QPen(QColor(40, 40, 40), 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(QPointF(m + 2, s - m - 2), QPointF(s - m - 2, m + 2))
    elif tool == "points":
        p.setBrush(QColor(40, 40, 40))
        for x, y in ((0.3, 0.3), (0.7, 0.4), (0.45, 0.72)):
            p.drawEllipse(QPointF(x * s, y * s), 2.5, 2.5)
    elif tool == "ruler":
        p.drawLine(QPointF(m, s - m), QPointF(s - m, m))
        for t in (0.25, 0.5, 0.75):
            x, y = m + t * (s - 2 * m), s - m - t * (s - 2 * m)
            p.drawLine(QPointF(x - 2, y - 2), QPointF(x + 2, y + 2))
    p.end()
    return QIcon(pm)
