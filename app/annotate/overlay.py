"""Draw an :class:`core.review.annotation_doc.AnnotationDocument` in the slide view (docs/annotate.md).

Regions are outlines (2 screen px, cosmetic pen, the class colour) drawn by ONE
:class:`app.annotate.regions_item.RegionsItem`, which strokes only the spatial chunks in view at a
level of detail suited to the zoom — so a pan over 10,000 polygons repaints a few cached paths
instead of 10,000 items or every vertex (``evident bench viewer``: ``annotation_pan``). Point sets are one ``ScatterPlotItem`` per class (fixed screen size). The
selection is drawn on top with a light fill and, for one selected annotation, its vertices as
handles — only while they lie at least :data:`HANDLE_GAP_PX` screen px apart (median; a brush
stroke or an ellipse at low zoom would otherwise be a black smear of handles; zoom in to edit
their vertices). The shape being drawn, the ruler and the brush outline at the cursor are previews
above everything.

``per_item=True`` draws one item per annotation instead (the benchmark baseline).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import shapely
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from app.annotate.regions_item import RegionsItem, geometry_path
from core.review.annotation_doc import AnnotationDocument

__all__ = ["AnnotationOverlay", "HANDLE_GAP_PX"]

_Z = 500.0  # above the maps (overlay_layer.py stacks from 10), below the rubber band (1000)
_HIGHLIGHT = (255, 220, 0)
HANDLE_GAP_PX = 8.0  # median screen distance between vertices below which no handles are drawn


def _inert(item) -> None:
    """The overlay never takes mouse input: clicks and drags reach the view box, whose tool hit-tests
    the document itself (a point item would otherwise swallow the clicks near it)."""
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    item.setAcceptHoverEvents(False)


def _pen(color, width: float = 2.0) -> QPen:
    pen = QPen(QColor(*color), width)
    pen.setCosmetic(True)
    return pen


class AnnotationOverlay:
    """Keeps the annotation items of one view box in step with a document and a selection."""

    def __init__(self, view_box: pg.ViewBox, *, per_item: bool = False) -> None:
        self.view_box = view_box
        self.per_item = per_item
        self.items: list = []  # the class paths / point scatters (or one item per annotation)
        self.highlight = self._path_item(_pen(_HIGHLIGHT, 3), QBrush(QColor(255, 220, 0, 50)), _Z + 2)
        self.handles = pg.ScatterPlotItem(size=9, symbol="s", pen=pg.mkPen(20, 20, 20), brush=pg.mkBrush(255, 255, 255))
        self.handles.setZValue(_Z + 3)
        _inert(self.handles)
        view_box.addItem(self.handles, ignoreBounds=True)
        self.preview = self._path_item(_pen((20, 90, 230), 2), QBrush(QColor(20, 90, 230, 40)), _Z + 4)
        self.cursor = self._path_item(_pen((20, 90, 230), 1.5), None, _Z + 4)
        self.handles_shown = False
        self._shown: tuple = (None, [])
        self._handles_key: tuple | None = None
        view_box.sigTransformChanged.connect(lambda *_: self._place_handles())
        self.ruler_text = pg.TextItem(color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 220), anchor=(0, 1))
        self.ruler_text.setZValue(_Z + 5)
        self.ruler_text.setVisible(False)
        _inert(self.ruler_text)
        view_box.addItem(self.ruler_text, ignoreBounds=True)

    def _path_item(self, pen: QPen, brush: QBrush | None, z: float) -> QGraphicsPathItem:
        item = QGraphicsPathItem()
        item.setPen(pen)
        if brush is not None:
            item.setBrush(brush)
        item.setZValue(z)
        _inert(item)
        self.view_box.addItem(item, ignoreBounds=True)
        return item

    def clear(self) -> None:
        for item in self.items:
            self.view_box.removeItem(item)
        self.items = []

    def sync(self, doc: AnnotationDocument | None, selected: list[str] = ()) -> None:
        """Redraw everything from ``doc`` with ``selected`` (uids) highlighted."""
        self.clear()
        if doc is None:
            self.show_selection(None, [])
            return
        if self.per_item:
            for a in doc.items:
                if a.kind == "region":
                    item = self._path_item(_pen(doc.color(a.classification)), None, _Z)
                    item.setPath(geometry_path([a.geometry]))
                    self.items.append(item)
        else:
            groups = [(doc.color(cls), [a.geometry for a in members if a.kind == "region"])
                      for cls, members in doc.by_class().items()]
            regions = RegionsItem()
            regions.setZValue(_Z)
            regions.set_regions(groups)
            self.view_box.addItem(regions, ignoreBounds=True)
            self.items.append(regions)
            for cls, members in doc.by_class().items():
                color = doc.color(cls)
                points = [a.geometry for a in members if a.kind == "points"]
                if points:
                    xy = np.concatenate([shapely.get_coordinates(g) for g in points])
                    scatter = pg.ScatterPlotItem(xy[:, 0], xy[:, 1], size=10, symbol="o",
                                                 pen=pg.mkPen(20, 20, 20), brush=pg.mkBrush(*color))
                    scatter.setZValue(_Z + 1)
                    _inert(scatter)
                    self.view_box.addItem(scatter, ignoreBounds=True)
                    self.items.append(scatter)
        self.show_selection(doc, selected)

    def show_selection(self, doc: AnnotationDocument | None, selected: list[str]) -> None:
        chosen = [doc.get(u) for u in selected] if doc is not None else []
        regions = [a.geometry for a in chosen if a.kind == "region"]
        self.highlight.setPath(geometry_path(regions))
        self._shown = (doc, list(selected))
        self._place_handles()

    def _place_handles(self) -> None:
        """The vertex handles of a single selected annotation, when they are far enough apart on
        screen (:data:`HANDLE_GAP_PX`); ``handles_shown`` tells the move tool whether to offer them."""
        doc, selected = self._shown
        per_px = max(self.view_box.viewPixelSize()[0], 1e-12)  # level-0 px per screen px
        key = (id(doc), doc.items if doc is not None else None, tuple(selected), per_px)
        if key == self._handles_key:
            return  # a pan: same shape, same zoom, same handles
        self._handles_key = key
        v = doc.vertices(selected[0]) if doc is not None and len(selected) == 1 else np.zeros((0, 2))
        show = len(v) > 0
        if len(v) > 2 and doc.get(selected[0]).kind == "region":
            gap = np.median(np.hypot(*np.diff(np.vstack([v, v[:1]]), axis=0).T)) / per_px
            show = gap >= HANDLE_GAP_PX
        self.handles_shown = show
        if show:
            self.handles.setData(v[:, 0], v[:, 1])
        else:
            self.handles.setData([], [])

    def show_cursor(self, geometry=None) -> None:
        """The brush outline at the cursor (a polygon, level-0 px); ``None`` hides it."""
        self.cursor.setPath(geometry_path([geometry]) if geometry is not None else QPainterPath())

    def show_preview(self, geometry=None, line: np.ndarray | None = None) -> None:
        """The shape being drawn (a polygonal geometry) or an open polyline ``(K, 2)``; ``None`` hides."""
        if geometry is not None and not geometry.is_empty:
            self.preview.setPath(geometry_path([geometry]))
        elif line is not None and len(line) >= 2:
            self.preview.setPath(pg.arrayToQPath(line[:, 0], line[:, 1]))
        else:
            self.preview.setPath(QPainterPath())

    def show_ruler(self, a: tuple[float, float] | None, b: tuple[float, float] | None = None, text: str = "") -> None:
        """A measuring line from ``a`` to ``b`` (level-0 px) labelled ``text``; ``None`` hides it."""
        if a is None or b is None:
            self.preview.setPath(QPainterPath())
            self.ruler_text.setVisible(False)
            return
        self.show_preview(line=np.array([a, b], dtype=float))
        self.ruler_text.setText(text)
        self.ruler_text.setPos(*b)
        self.ruler_text.setVisible(True)

    def remove(self) -> None:
        """Take every item out of the view box (the view is being shut down)."""
        self.clear()
        for item in (self.highlight, self.handles, self.preview, self.cursor, self.ruler_text):
            self.view_box.removeItem(item)
