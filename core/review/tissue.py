"""The tissue layer: a :class:`core.extract.tissue.TissueMask` as region outlines, and clipping.

The mask (thumbnail scale) is traced with :mod:`contourpy` (filled contours of the 0/1 mask at
level 0.5, holes kept) and scaled to level-0 px, so it is drawn and exported like any annotation
region. Map layers may be "clipped to tissue": patches whose tissue fraction is below
:data:`MIN_TISSUE_FRACTION` are hidden.
"""

from __future__ import annotations

import itertools

import numpy as np

from core.extract.tissue import TissueMask
from core.review.layers import Layer, regions_layer

__all__ = ["TISSUE_LAYER", "MIN_TISSUE_FRACTION", "tissue_geometry", "tissue_layer", "clip_alpha"]

TISSUE_LAYER = "tissue"
MIN_TISSUE_FRACTION = 0.5


def tissue_geometry(tissue: TissueMask):
    """The tissue of ``tissue.mask`` as a shapely (Multi)Polygon in level-0 px (holes kept).

    Each mask pixel ``(r, c)`` covers level-0 ``[c·sx, (c+1)·sx) × [r·sy, (r+1)·sy)``.
    """
    import contourpy  # local: contourpy only when used
    import shapely  # local: shapely only when used

    m = np.asarray(tissue.mask, dtype=bool)
    if not m.any():
        return shapely.MultiPolygon()
    z = np.pad(m, 1).astype(np.float64)  # a closed border so pieces touching the edge close
    gen = contourpy.contour_generator(z=z, fill_type=contourpy.FillType.OuterOffset)
    polys, offsets = gen.filled(0.5, 1.5)
    sx, sy = tissue.downsample
    parts = []
    for pts, offs in zip(polys, offsets):
        # contour x/y are pixel-centre indices of the padded array: centre of pixel c is c + 0.5 level-0 px/sx
        xy = (np.asarray(pts, dtype=np.float64) - 1.0 + 0.5) * np.array([sx, sy])
        rings = [xy[a:b] for a, b in itertools.pairwise(offs)]
        parts.append(shapely.Polygon(rings[0], rings[1:]))
    geom = shapely.make_valid(shapely.union_all(parts)) if len(parts) > 1 else shapely.make_valid(parts[0])
    return geom


def tissue_layer(tissue: TissueMask, *, source: str = "tissue detection") -> Layer:
    """A region layer named :data:`TISSUE_LAYER` outlining the detected tissue (green)."""
    return regions_layer(TISSUE_LAYER, tissue_geometry(tissue), source=source, color=(40, 170, 60))


def clip_alpha(rgba: np.ndarray, fraction: np.ndarray | None,
               min_fraction: float = MIN_TISSUE_FRACTION) -> np.ndarray:
    """Hide (alpha 0) patches whose tissue fraction is below ``min_fraction``.

    Parameters
    ----------
    rgba
        (N, 4) uint8 patch colours (changed in place and returned).
    fraction
        (N,) float tissue fraction per patch, or ``None`` (nothing is hidden).
    """
    if fraction is not None:
        f = np.asarray(fraction, dtype=np.float64).reshape(-1)
        if f.shape[0] != rgba.shape[0]:
            raise ValueError(f"{f.shape[0]} tissue fractions for {rgba.shape[0]} patches")
        rgba[f < min_fraction, 3] = 0
    return rgba
