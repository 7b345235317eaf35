"""Draw the review session's overlay layers in the slide view (GUI side of core.review).

A scalar layer on a patch lattice is ONE ImageItem with one pixel per grid cell, placed with
``setRect`` at :attr:`core.review.patch_grid.PatchGrid.rect` (level-0 px), so every cell covers its
patch exactly; off-lattice patches are drawn as rectangles grouped by colour. Subsets, selections
and regions are outlines (QGraphicsPathItem). Items stack above the tiles in the session's layer
order. The colour maths is :mod:`core.review.normalise`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from core.review.layers import Layer
from core.review.normalise import colorize, normalise
from core.review.patch_grid import PatchGrid, geometry_rings, subset_outline
from core.review.smoothing import smooth_scores
from core.review.tissue import clip_alpha

__all__ = ["OverlayStack", "layer_rgba", "rings_path"]

_BASE_Z = 10.0


def layer_rgba(layer: Layer, grid: PatchGrid | None = None, tissue_fraction: np.ndarray | None = None) -> np.ndarray:
    """(N, 4) uint8 colours of a scalar layer under its settings.

    ``grid`` enables the layer's smoothing (``smooth_sigma``) and ``tissue_fraction`` ((N,) float)
    its clipping to tissue (``clip_to_tissue``); without them neither applies.
    """
    s = layer.settings
    values = layer.values
    if s.smooth_sigma > 0 and grid is not None and grid.coords.shape[0] == values.shape[0]:
        values = smooth_scores(grid, values, s.smooth_sigma)
    n = normalise(values, s.norm, vmin=s.vmin, vmax=s.vmax, lo_pct=s.lo_pct, hi_pct=s.hi_pct)
    rgba = colorize(n, s.colormap, s.opacity, s.threshold)
    if s.clip_to_tissue and tissue_fraction is not None and tissue_fraction.shape[0] == rgba.shape[0]:
        clip_alpha(rgba, tissue_fraction)
    return rgba


def rings_path(rings: list[np.ndarray]) -> QPainterPath:
    """A QPainterPath of closed rings ((K, 2) level-0 arrays); holes via odd-even fill."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for ring in rings:
        path.moveTo(QPointF(*ring[0]))
        for x, y in ring[1:]:
            path.lineTo(QPointF(x, y))
        path.closeSubpath()
    return path


class OverlayStack:
    """Keeps one group of graphics items per layer in a ViewBox, in the session's order."""

    def __init__(self, view_box: pg.ViewBox) -> None:
        self.view_box = view_box
        self.items: dict[str, list] = {}
        self.selection_item: QGraphicsPathItem | None = None
        self.tissue_fraction: np.ndarray | None = None  # (N,) float, for layers clipped to tissue

    def clear(self) -> None:
        for name in list(self.items):
            self._remove(name)
        self.set_selection(None, np.zeros(0, np.int64))

    def _remove(self, name: str) -> None:
        for item in self.items.pop(name, []):
            self.view_box.removeItem(item)

    def sync(self, layers: tuple[Layer, ...], grid: PatchGrid | None) -> None:
        """Rebuild every layer's items (order, settings and content)."""
        for name in list(self.items):
            self._remove(name)
        for i, layer in enumerate(layers):
            self.items[layer.name] = self._build(layer, grid, _BASE_Z + i)

    def refresh(self, layer: Layer, index: int, grid: PatchGrid | None) -> None:
        """Rebuild one layer's items after a settings change."""
        self._remove(layer.name)
        self.items[layer.name] = self._build(layer, grid, _BASE_Z + index)

    def _build(self, layer: Layer, grid: PatchGrid | None, z: float) -> list:
        s = layer.settings
        if not s.visible:
            return []
        items: list = []
        if layer.kind == "scalar" and grid is not None:
            rgba = layer_rgba(layer, grid, self.tissue_fraction)
            if grid.is_lattice:
                item = pg.ImageItem(grid.rasterise(rgba), levels=None, autoLevels=False)
                item.setRect(QRectF(*grid.rect))
                items.append(item)
            else:
                items.extend(self._rects(grid, rgba))
        elif layer.kind == "subset" and grid is not None:
            items.append(self._outline(geometry_rings(subset_outline(grid.coords, grid.patch_size, layer.indices)),
                                       s.color, s.opacity, s.filled))
        elif layer.kind == "regions":
            items.append(self._outline(geometry_rings(layer.geometry), s.color, s.opacity, s.filled))
        for item in items:
            item.setZValue(z)
            self.view_box.addItem(item)
        return items

    @staticmethod
    def _outline(rings: list[np.ndarray], color, opacity: float, filled: bool) -> QGraphicsPathItem:
        item = QGraphicsPathItem(rings_path(rings))
        c = QColor(*color, int(255 * opacity))
        pen = QPen(c, 2.5)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setBrush(QBrush(QColor(*color, int(80 * opacity))) if filled else QBrush(Qt.BrushStyle.NoBrush))
        return item

    @staticmethod
    def _rects(grid: PatchGrid, rgba: np.ndarray) -> list[QGraphicsPathItem]:
        items = []
        keys = rgba.view(np.uint32).reshape(-1)
        for key in np.unique(keys[rgba[:, 3] > 0]):
            path = QPainterPath()
            for i in np.flatnonzero(keys == key):
                x, y = grid.coords[i]
                path.addRect(QRectF(float(x), float(y), grid.patch_size, grid.patch_size))
            item = QGraphicsPathItem(path)
            r, g, b, a = rgba[np.flatnonzero(keys == key)[0]]
            item.setBrush(QBrush(QColor(int(r), int(g), int(b), int(a))))
            item.setPen(QPen(Qt.PenStyle.NoPen))
            items.append(item)
        return items

    def set_selection(self, grid: PatchGrid | None, indices: np.ndarray) -> None:
        """Outline the selected patches (dashed, cyan) above every layer."""
        if self.selection_item is not None:
            self.view_box.removeItem(self.selection_item)
            self.selection_item = None
        if grid is None or len(indices) == 0:
            return
        item = QGraphicsPathItem(rings_path(geometry_rings(subset_outline(grid.coords, grid.patch_size, indices))))
        pen = QPen(QColor(0, 230, 255), 2.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setBrush(QBrush(QColor(0, 230, 255, 50)))
        item.setZValue(_BASE_Z + 1000)
        self.view_box.addItem(item)
        self.selection_item = item
