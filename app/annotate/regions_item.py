"""One graphics item that draws many annotation outlines fast: spatial chunks × levels of detail.

Drawing 10,000 polygons as 10,000 items makes every pan re-index and repaint thousands of items;
drawing them as one path per class makes every frame stroke every vertex, visible or not. This item
keeps the outlines in a grid of chunks (:data:`CHUNKS` × :data:`CHUNKS` over their extent) and,
per chunk, per class and per level of detail, one ``QPainterPath`` built on first use. A paint
strokes only the chunks that intersect the exposed rectangle, at the coarsest level whose
simplification tolerance stays under half a screen pixel (``shapely.simplify``; a polygon that
simplifies away is drawn as its bounding box, so small objects stay visible when zoomed out).

Coordinates are level-0 px (the ViewBox's child group maps them to the screen). The item takes no
mouse input (hit testing is the document's STRtree).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import shapely
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

__all__ = ["CHUNKS", "LOD_TOLERANCES", "RegionsItem", "geometry_path"]

CHUNKS = 16
LOD_TOLERANCES = (0.0, 2.0, 8.0, 32.0, 128.0, 512.0)  # level-0 px


def geometry_path(geometries) -> QPainterPath:
    """One QPainterPath of every ring (exteriors and holes) of polygonal shapely ``geometries``
    (odd-even fill), built in one vectorised call (pyqtgraph's ``arrayToQPath``)."""
    rings = []
    for g in geometries:
        for poly in shapely.get_parts(g):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            rings.append(np.asarray(poly.exterior.coords))
            rings.extend(np.asarray(r.coords) for r in poly.interiors)
    if not rings:
        return QPainterPath()
    xy = np.concatenate(rings)
    connect = np.ones(len(xy), dtype=bool)
    connect[np.cumsum([len(r) for r in rings]) - 1] = False  # no line from one ring to the next
    path = pg.arrayToQPath(xy[:, 0], xy[:, 1], connect=connect)
    path.setFillRule(Qt.FillRule.OddEvenFill)
    return path


class RegionsItem(QGraphicsItem):
    """Outlines of ``(color, geometries)`` groups: cosmetic pens of ``width`` screen px, or 1 px when
    there are more than :attr:`THIN_ABOVE` polygons (Qt strokes 1-px cosmetic lines on a fast path,
    about 7× faster than 2 px: measured with ``python -m app.bench_viewer --only annotations``)."""

    THIN_ABOVE = 2000

    def __init__(self, width: float = 2.0) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.width = width
        self._groups: list[tuple[tuple[int, int, int], np.ndarray]] = []  # colour, geometry array
        self._chunk_of: list[np.ndarray] = []    # per group: (n,) chunk index of each geometry
        self._present: list[set[int]] = []       # per group: the chunks it has geometries in
        self._cache: dict[tuple[int, int, int], QPainterPath] = {}  # (group, chunk, lod) -> path
        self._bounds = QRectF()
        self._origin = (0.0, 0.0)
        self._chunk = (1.0, 1.0)
        self._margin = 0.0
        self._pens: list[QPen] = []
        self.paint_stats = {"chunks": 0, "lod": 0}

    def set_regions(self, groups) -> None:
        """Replace what is drawn: ``groups`` is a list of ``(rgb, [shapely polygons...])``."""
        self.prepareGeometryChange()
        self._groups = [(tuple(c), np.asarray(list(g), dtype=object)) for c, g in groups if len(g)]
        self._cache.clear()
        self._pens = []
        n = sum(len(g) for _, g in self._groups)
        width = self.width if n <= self.THIN_ABOVE else 1.0
        for color, _ in self._groups:
            pen = QPen(QColor(*color), width)
            pen.setCosmetic(True)
            self._pens.append(pen)
        if not self._groups:
            self._bounds = QRectF()
            self._chunk_of = []
            self.update()
            return
        boxes = [shapely.bounds(g) for _, g in self._groups]
        allb = np.concatenate(boxes)
        x0, y0 = allb[:, 0].min(), allb[:, 1].min()
        x1, y1 = allb[:, 2].max(), allb[:, 3].max()
        self._bounds = QRectF(x0, y0, max(x1 - x0, 1.0), max(y1 - y0, 1.0))
        self._origin = (x0, y0)
        self._chunk = (max((x1 - x0) / CHUNKS, 1.0), max((y1 - y0) / CHUNKS, 1.0))
        self._margin = float(np.max(np.maximum(allb[:, 2] - allb[:, 0], allb[:, 3] - allb[:, 1])))
        self._chunk_of, self._present = [], []
        for b in boxes:
            cx = np.clip(((b[:, 0] - x0) // self._chunk[0]).astype(int), 0, CHUNKS - 1)
            cy = np.clip(((b[:, 1] - y0) // self._chunk[1]).astype(int), 0, CHUNKS - 1)
            self._chunk_of.append(cy * CHUNKS + cx)
            self._present.append(set(np.unique(self._chunk_of[-1]).tolist()))
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        return self._bounds.adjusted(-1, -1, 1, 1)

    def _path(self, group: int, chunk: int, lod: int) -> QPainterPath:
        key = (group, chunk, lod)
        path = self._cache.get(key)
        if path is None:
            geoms = self._groups[group][1][self._chunk_of[group] == chunk]
            tol = LOD_TOLERANCES[lod]
            if tol > 0 and len(geoms):
                simple = shapely.simplify(geoms, tol, preserve_topology=False)
                gone = shapely.is_empty(simple) | (shapely.area(simple) <= 0)
                if gone.any():
                    simple[gone] = shapely.envelope(geoms[gone])
                geoms = simple
            path = geometry_path(geoms)
            self._cache[key] = path
        return path

    def paint(self, painter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if not self._groups:
            return
        t = painter.worldTransform()
        screen_per_px = math.hypot(t.m11(), t.m12()) or 1.0
        half_px = 0.5 / screen_per_px  # level-0 px in half a screen pixel
        lod = max(i for i, tol in enumerate(LOD_TOLERANCES) if tol <= half_px)
        r = option.exposedRect
        x0, y0 = self._origin
        cw, ch = self._chunk
        m = self._margin
        c0 = max(int((r.left() - m - x0) // cw), 0)
        c1 = min(int((r.right() - x0) // cw), CHUNKS - 1)
        r0 = max(int((r.top() - m - y0) // ch), 0)
        r1 = min(int((r.bottom() - y0) // ch), CHUNKS - 1)
        chunks = [ry * CHUNKS + cx for ry in range(r0, r1 + 1) for cx in range(c0, c1 + 1)]
        self.paint_stats = {"chunks": len(chunks), "lod": lod}
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for g in range(len(self._groups)):
            painter.setPen(self._pens[g])
            present = self._present[g]
            for c in chunks:
                if c in present:
                    painter.drawPath(self._path(g, c, lod))
