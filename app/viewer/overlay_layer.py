"""Draw the review session's overlay layers in the slide view (GUI side of core.review).

A scalar layer on a patch lattice is ONE ImageItem with one pixel per grid cell, placed with
``setRect`` at :attr:`core.review.patch_grid.PatchLattice.rect` (level-0 px), so every cell covers its
patch exactly; off-lattice patches are drawn as rectangles grouped by colour. Subsets, selections
and regions are outlines (QGraphicsPathItem). Items stack above the tiles in the session's layer
order. The colour maths is :mod:`core.review.normalise`, cached per layer by
:class:`core.review.layer_render.LayerRenderCache`.

A layer's opacity is the drawn item's opacity (``QGraphicsItem.setOpacity``, colours at alpha 255),
so an opacity change repaints without recolouring; other setting changes of a drawn map recolour
its existing image from the cache (a threshold change reuses the normalised scores). With
``OverlayStack(cached=False)`` every change rebuilds the layer's items from scratch with the
opacity in the colours (the pre-cache path, kept as the benchmark baseline).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from core.review.layer_render import LayerRenderCache
from core.review.layers import Layer, RegionLayer, ScalarLayer, SubsetLayer
from core.review.patch_grid import PatchLattice, geometry_rings, subset_outline

__all__ = ["OverlayStack", "layer_rgba", "rings_path"]

_BASE_Z = 10.0


def layer_rgba(layer: Layer, grid: PatchLattice | None = None, tissue_fraction: np.ndarray | None = None) -> np.ndarray:
    """(N, 4) uint8 colours of a scalar layer under its settings.

    ``grid`` enables the layer's smoothing (``smooth_sigma``) and ``tissue_fraction`` ((N,) float)
    its clipping to tissue (``clip_to_tissue``); without them neither applies.
    """
    return LayerRenderCache(enabled=False).rgba(layer, grid, tissue_fraction)


def _content(layer: Layer):
    """The data a layer draws (scalar values, subset indices or region geometry)."""
    match layer:
        case ScalarLayer():
            return layer.values
        case SubsetLayer():
            return layer.indices
        case RegionLayer():
            return layer.geometry
    raise TypeError(f"not a layer type: {type(layer).__name__}")


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
    """Keeps one group of graphics items per layer in a ViewBox, in the session's order.

    ``cached=False``: the pre-cache path (every change rebuilds, opacity baked into the colours).
    """

    def __init__(self, view_box: pg.ViewBox, *, cached: bool = True) -> None:
        self.view_box = view_box
        self.cached = cached
        self.cache = LayerRenderCache(enabled=cached)
        self.items: dict[str, list] = {}
        self._drawn: dict[str, tuple[Layer, PatchLattice | None, np.ndarray | None]] = {}  # what items show
        self.selection_item: QGraphicsPathItem | None = None
        self.tissue_fraction: np.ndarray | None = None  # (N,) float, for layers clipped to tissue

    def clear(self) -> None:
        for name in list(self.items):
            self._remove(name)
        self.cache.forget()
        self.set_selection(None, np.zeros(0, np.int64))

    def _remove(self, name: str) -> None:
        self._drawn.pop(name, None)
        for item in self.items.pop(name, []):
            self.view_box.removeItem(item)

    def sync(self, layers: tuple[Layer, ...], grid: PatchLattice | None) -> None:
        """Rebuild every layer's items (order, settings and content)."""
        for name in list(self.items):
            self._remove(name)
        names = {x.name for x in layers}
        for name in {k[1] for k in self.cache._entries} - names:
            self.cache.forget(name)
        for i, layer in enumerate(layers):
            self.items[layer.name] = self._build(layer, grid, _BASE_Z + i)

    def refresh(self, layer: Layer, index: int, grid: PatchLattice | None) -> None:
        """Show one layer's new settings: in place when only how it is drawn changed, else rebuilt."""
        if self.cached and self._update_in_place(layer, grid, _BASE_Z + index):
            return
        self._remove(layer.name)
        self.items[layer.name] = self._build(layer, grid, _BASE_Z + index)

    def _update_in_place(self, layer: Layer, grid: PatchLattice | None, z: float) -> bool:
        drawn = self._drawn.get(layer.name)
        if drawn is None:
            return not layer.settings.visible and not self.items.get(layer.name)  # hidden and still hidden
        old, old_grid, old_fraction = drawn
        a, b = old.settings, layer.settings
        same_content = type(old) is type(layer) and _content(old) is _content(layer) and old_grid is grid
        if not (same_content and b.visible):
            return False
        items = self.items[layer.name]
        if isinstance(layer, ScalarLayer):
            if a != b or old_fraction is not self.tissue_fraction:
                only_opacity = a == replace(b, opacity=a.opacity) and old_fraction is self.tissue_fraction
                if not only_opacity:
                    if grid is None or not grid.is_lattice:
                        return False
                    rgba = self.cache.rgba(layer, grid, self.tissue_fraction, with_opacity=False)
                    items[0].setImage(grid.rasterise(rgba), autoLevels=False)
        else:
            if (a.color, a.filled) != (b.color, b.filled):
                for item in items:
                    self._style_outline(item, b.color, b.filled)
        for item in items:
            item.setOpacity(b.opacity)
            item.setZValue(z)
        self._drawn[layer.name] = (layer, grid, self.tissue_fraction)
        return True

    def _build(self, layer: Layer, grid: PatchLattice | None, z: float) -> list:
        s = layer.settings
        if not s.visible:
            return []
        items: list = []
        match layer:
            case ScalarLayer() if grid is not None:
                rgba = self.cache.rgba(layer, grid, self.tissue_fraction, with_opacity=not self.cached)
                if grid.is_lattice:
                    item = pg.ImageItem(grid.rasterise(rgba), levels=None, autoLevels=False)
                    item.setRect(QRectF(*grid.rect))
                    items.append(item)
                else:
                    items.extend(self._rects(grid, rgba))
            case SubsetLayer() if grid is not None:
                outline = subset_outline(grid.coords, grid.patch_size_level0_px, layer.indices)
                items.append(self._outline(geometry_rings(outline), s.color, s.opacity, s.filled, baked=not self.cached))
            case RegionLayer():
                items.append(self._outline(geometry_rings(layer.geometry), s.color, s.opacity, s.filled,
                                           baked=not self.cached))
        for item in items:
            item.setZValue(z)
            if self.cached:
                item.setOpacity(s.opacity)
            self.view_box.addItem(item)
        self._drawn[layer.name] = (layer, grid, self.tissue_fraction)
        return items

    @classmethod
    def _outline(cls, rings: list[np.ndarray], color, opacity: float, filled: bool, *,
                 baked: bool = False) -> QGraphicsPathItem:
        """An outline item; its opacity is the item's (``baked``: in the pen and brush alpha instead)."""
        item = QGraphicsPathItem(rings_path(rings))
        cls._style_outline(item, color, filled, opacity if baked else 1.0)
        return item

    @staticmethod
    def _style_outline(item: QGraphicsPathItem, color, filled: bool, alpha: float = 1.0) -> None:
        pen = QPen(QColor(*color, int(255 * alpha)), 2.5)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setBrush(QBrush(QColor(*color, int(80 * alpha))) if filled else QBrush(Qt.BrushStyle.NoBrush))

    @staticmethod
    def _rects(grid: PatchLattice, rgba: np.ndarray) -> list[QGraphicsPathItem]:
        items = []
        keys = rgba.view(np.uint32).reshape(-1)
        for key in np.unique(keys[rgba[:, 3] > 0]):
            path = QPainterPath()
            for i in np.flatnonzero(keys == key):
                x, y = grid.coords[i]
                path.addRect(QRectF(float(x), float(y), grid.patch_size_level0_px, grid.patch_size_level0_px))
            item = QGraphicsPathItem(path)
            r, g, b, a = rgba[np.flatnonzero(keys == key)[0]]
            item.setBrush(QBrush(QColor(int(r), int(g), int(b), int(a))))
            item.setPen(QPen(Qt.PenStyle.NoPen))
            items.append(item)
        return items

    def set_selection(self, grid: PatchLattice | None, indices: np.ndarray) -> None:
        """Outline the selected patches (dashed, cyan) above every layer."""
        if self.selection_item is not None:
            self.view_box.removeItem(self.selection_item)
            self.selection_item = None
        if grid is None or len(indices) == 0:
            return
        item = QGraphicsPathItem(rings_path(geometry_rings(subset_outline(grid.coords, grid.patch_size_level0_px, indices))))
        pen = QPen(QColor(0, 230, 255), 2.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setBrush(QBrush(QColor(0, 230, 255, 50)))
        item.setZValue(_BASE_Z + 1000)
        self.view_box.addItem(item)
        self.selection_item = item
