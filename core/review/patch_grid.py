"""Place per-patch colours on the slide exactly: a raster on the patch grid, or rectangles.

When every patch's level-0 top-left corner lies on one lattice of spacing ``patch_size_level0``
(the usual non-overlapping CLAM/TRIDENT tiling), a map is drawn as ONE image with one pixel per
grid cell, placed at level-0 rectangle :attr:`PatchLattice.rect`; cell ``(row, col)`` then covers
exactly ``[x0 + col * ps, x0 + (col + 1) * ps) x [y0 + row * ps, ...)``. Otherwise (overlapping or
gapped patches) :attr:`PatchLattice.is_lattice` is False and the viewer draws one rectangle per patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["PatchLattice", "patch_lattice", "subset_outline", "geometry_rings"]


@dataclass(frozen=True, eq=False)
class PatchLattice:
    """The lattice of a bag's patches.

    Attributes
    ----------
    coords
        (N, 2) int64 level-0 top-left corners.
    patch_size_level0_px
        Patch side in level-0 pixels (the lattice spacing). Not the encoder's patch side at the
        target magnification, which is :attr:`core.extract.grid.PatchGrid.patch_size_target_px`.
    is_lattice
        Whether all corners lie on the lattice anchored at the minimum corner with spacing
        ``patch_size_level0_px``, each cell holding at most one patch.
    origin
        ``(x0, y0)`` level-0 corner of cell (0, 0).
    shape
        ``(rows, cols)`` of the raster (``(0, 0)`` when not a lattice).
    index
        (rows, cols) int64 patch index of each cell, ``-1`` for empty cells.
    """

    coords: np.ndarray
    patch_size_level0_px: int
    is_lattice: bool
    origin: tuple[int, int]
    shape: tuple[int, int]
    index: np.ndarray

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """``(x, y, w, h)`` level-0 rectangle the raster covers."""
        rows, cols = self.shape
        ps = self.patch_size_level0_px
        return float(self.origin[0]), float(self.origin[1]), float(cols * ps), float(rows * ps)

    def rasterise(self, rgba: np.ndarray) -> np.ndarray:
        """Per-patch colours (N, 4) uint8 -> raster (rows, cols, 4) uint8, empty cells transparent."""
        if not self.is_lattice:
            raise ValueError("patches are not on a lattice; draw rectangles instead")
        pos, idx = self._cells
        colours = np.ascontiguousarray(rgba, dtype=np.uint8).reshape(-1, 4).view(np.uint32).reshape(-1)
        out = np.zeros(self.shape[0] * self.shape[1], dtype=np.uint32)
        out[pos] = colours[idx]  # one 4-byte gather per patch (a slider tick redraws 100k patches)
        return out.view(np.uint8).reshape(*self.shape, 4)

    @cached_property
    def _cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat raster positions of the filled cells and the patch index in each, computed once."""
        flat = self.index.reshape(-1)
        pos = np.flatnonzero(flat >= 0)
        return pos, flat[pos]

    def patch_at(self, x: float, y: float) -> int:
        """Index of the patch covering level-0 point ``(x, y)``, or -1 (last drawn wins on overlap)."""
        ps = self.patch_size_level0_px
        if self.is_lattice:
            col = int(np.floor((x - self.origin[0]) / ps))
            row = int(np.floor((y - self.origin[1]) / ps))
            if 0 <= row < self.shape[0] and 0 <= col < self.shape[1]:
                return int(self.index[row, col])
            return -1
        c = self.coords
        hit = np.flatnonzero((c[:, 0] <= x) & (x < c[:, 0] + ps) & (c[:, 1] <= y) & (y < c[:, 1] + ps))
        return int(hit[-1]) if hit.size else -1

    def patches_in(self, geometry) -> np.ndarray:
        """(K,) int64 indices of patches whose centre lies inside a shapely geometry."""
        import shapely  # local: shapely only when used

        centres = self.coords.astype(np.float64) + self.patch_size_level0_px / 2.0
        inside = shapely.contains_xy(geometry, centres[:, 0], centres[:, 1])
        return np.flatnonzero(inside).astype(np.int64)


def patch_lattice(coords: np.ndarray, patch_size_level0_px: int) -> PatchLattice:
    """Build the :class:`PatchLattice` of (N, 2) level-0 corners and a level-0 patch side (px)."""
    c = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    ps = int(patch_size_level0_px)
    if ps <= 0:
        raise ValueError("patch size must be positive")
    empty = np.zeros((0, 0), dtype=np.int64)
    if c.shape[0] == 0:
        return PatchLattice(c, ps, False, (0, 0), (0, 0), empty)
    x0, y0 = int(c[:, 0].min()), int(c[:, 1].min())
    rel = c - np.array([x0, y0])
    if np.any(rel % ps):
        return PatchLattice(c, ps, False, (x0, y0), (0, 0), empty)
    cols_i, rows_i = rel[:, 0] // ps, rel[:, 1] // ps
    shape = (int(rows_i.max()) + 1, int(cols_i.max()) + 1)
    index = np.full(shape, -1, dtype=np.int64)
    index[rows_i, cols_i] = np.arange(c.shape[0])
    if int((index >= 0).sum()) != c.shape[0]:  # duplicate corners: not a one-to-one lattice
        return PatchLattice(c, ps, False, (x0, y0), (0, 0), empty)
    return PatchLattice(c, ps, True, (x0, y0), shape, index)


def subset_outline(coords: np.ndarray, patch_size: int, indices: np.ndarray):
    """Union of the patch squares of ``indices`` as one shapely (Multi)Polygon, level-0 px.

    Adjacent squares merge into regions so that a subset is drawn as a few outlines.
    """
    import shapely  # local: shapely only when used

    c = np.asarray(coords, dtype=np.float64)[np.asarray(indices, dtype=np.int64)]
    if c.shape[0] == 0:
        return shapely.MultiPolygon()
    boxes = shapely.box(c[:, 0], c[:, 1], c[:, 0] + patch_size, c[:, 1] + patch_size)
    return shapely.union_all(boxes)


def geometry_rings(geometry) -> list[np.ndarray]:
    """Every ring (exteriors and holes) of a polygonal shapely geometry as (K, 2) float64 arrays."""
    import shapely  # local: shapely only when used

    rings: list[np.ndarray] = []
    for poly in shapely.get_parts(geometry):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        rings.append(np.asarray(poly.exterior.coords, dtype=np.float64))
        rings.extend(np.asarray(r.coords, dtype=np.float64) for r in poly.interiors)
    return rings
