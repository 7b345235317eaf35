"""Which patches lie inside annotated regions (by the fraction of each patch's area covered)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely

from core.data.annotation import polygonal

__all__ = ["patch_overlap_fraction", "patch_labels"]


def patch_overlap_fraction(coords: np.ndarray, patch_size_level0: int, geometries: Iterable[Any]) -> np.ndarray:
    """Fraction of each square patch's area covered by the union of ``geometries``.

    Parameters
    ----------
    coords
        (N, 2) integer level-0 (x, y) top-left corners.
    patch_size_level0
        Patch side in level-0 pixels (> 0).
    geometries
        shapely geometries or :class:`~core.data.annotation.Annotation` objects; overlapping
        regions count once (they are merged first).

    Returns
    -------
    np.ndarray
        (N,) float64 in [0, 1].

    Notes
    -----
    Candidate (region part, patch) pairs come from an ``STRtree`` over the patch squares; squares
    lying wholly inside a part count as 1 without an intersection, the others are intersected in
    one vectorised ``shapely.intersection`` call. 100k patches take well under a second for simple
    regions.
    """
    xy = np.asarray(coords)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords must be (N, 2), got shape {xy.shape}")
    size = float(patch_size_level0)
    if not size > 0:
        raise ValueError(f"patch_size_level0 must be positive, got {patch_size_level0}")
    n = xy.shape[0]
    frac = np.zeros(n, dtype=np.float64)
    geoms = [polygonal(getattr(g, "geometry", g)) for g in geometries]
    geoms = [g for g in geoms if not g.is_empty]
    if n == 0 or not geoms:
        return frac
    region = polygonal(shapely.union_all(geoms))
    parts = np.asarray(shapely.get_parts(region))
    if parts.size == 0:
        return frac
    x = xy[:, 0].astype(np.float64)
    y = xy[:, 1].astype(np.float64)
    boxes = shapely.box(x, y, x + size, y + size)
    tree = shapely.STRtree(boxes)
    part_idx, box_idx = tree.query(parts, predicate="intersects")
    if part_idx.size == 0:
        return frac
    shapely.prepare(parts)
    inside = shapely.contains_properly(parts[part_idx], boxes[box_idx])
    area = np.full(part_idx.size, size * size)
    edge = ~inside
    if edge.any():
        area[edge] = shapely.area(shapely.intersection(parts[part_idx[edge]], boxes[box_idx[edge]]))
    np.add.at(frac, box_idx, area)
    return np.clip(frac / (size * size), 0.0, 1.0)


def patch_labels(
    coords: np.ndarray, patch_size_level0: int, geometries: Iterable[Any], min_overlap: float = 0.01
) -> np.ndarray:
    """Whether each patch lies inside the annotated regions.

    Parameters
    ----------
    coords
        (N, 2) integer level-0 (x, y) top-left corners.
    patch_size_level0
        Patch side in level-0 pixels.
    geometries
        shapely geometries or :class:`~core.data.annotation.Annotation` objects.
    min_overlap
        A patch is inside when at least this fraction of its area (0 < min_overlap <= 1) is covered.

    Returns
    -------
    np.ndarray
        (N,) bool.
    """
    if not 0.0 < float(min_overlap) <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    return patch_overlap_fraction(coords, patch_size_level0, geometries) >= float(min_overlap) - 1e-12
