"""Tissue detection on a slide thumbnail, and the tissue fraction of patches.

The rule (in the spirit of CLAM's segmentation, kept small and deterministic):

1. HSV saturation ``S = (max(R,G,B) - min(R,G,B)) / max(R,G,B)`` of each thumbnail pixel, scaled to
   0–255 and median-filtered (3 × 3) against noise. Stained tissue is coloured; glass, background
   and the white fill OpenSlide uses outside the scanned area are grey (low saturation).
2. Threshold = Otsu's threshold of the saturation histogram, clamped to
   ``[min_saturation, max_saturation]`` (20 and 45 of 255 by default, i.e. saturation 0.08–0.18):
   on a thumbnail that is nearly all glass Otsu would split camera noise, and on one that is nearly
   all tissue it would split pale (eosin, loose stroma) from dark tissue. Glass sits near 0.01,
   pale stained tissue above 0.15.
3. Very dark pixels (``max(R,G,B) < dark_value``; scanner black, folds of ink) are not tissue.
4. Connected tissue pieces smaller than ``min_object_area`` level-0 px² are removed (dust, specks),
   and holes (background pieces not touching the border) smaller than ``max_hole_area`` level-0 px²
   are filled (gaps inside tissue); larger holes (lumens, tears) stay background.

Thumbnails and masks are row-major ``(h, w)``; ``downsample`` maps mask pixels to level-0 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "TissueMask",
    "otsu_threshold",
    "saturation",
    "tissue_mask",
    "detect_tissue",
    "patch_tissue_fraction",
]


@dataclass(frozen=True, eq=False)
class TissueMask:
    """A tissue mask at thumbnail scale.

    Attributes
    ----------
    mask
        (h, w) bool, ``True`` where there is tissue.
    downsample
        ``(sx, sy)`` level-0 pixels per mask pixel along x and y (``level0_width / w``,
        ``level0_height / h``).
    threshold
        The saturation threshold used (0–255).
    """

    mask: np.ndarray
    downsample: tuple[float, float]
    threshold: float

    @property
    def tissue_fraction(self) -> float:
        """Fraction of the whole slide covered by tissue."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of 8-bit values (maximises the between-class variance).

    Parameters
    ----------
    values
        Any shape, uint8 (or integers in 0–255).

    Returns
    -------
    float
        ``t`` such that ``values > t`` is the upper class; 0.0 for a constant input.
    """
    hist = np.bincount(np.asarray(values, dtype=np.uint8).ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 0.0
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)  # (256,) pixels <= t
    w1 = total - w0
    m0 = np.cumsum(hist * levels)
    mean_all = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean_all * w0 - total * m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    if between.max() <= 0:
        return 0.0
    # ties (a flat optimum between two populated levels): take the middle of the plateau
    best = np.flatnonzero(between == between.max())
    return float((best[0] + best[-1]) / 2.0)


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation scaled to 0–255.

    Parameters
    ----------
    rgb
        (..., 3) uint8 RGB.

    Returns
    -------
    np.ndarray
        (...) uint8; 0 for black pixels.
    """
    rgb = np.asarray(rgb)
    r, g, b = (rgb[..., c].astype(np.int32) for c in range(3))
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    sat = np.zeros(mx.shape, dtype=np.int32)
    np.floor_divide((mx - mn) * 255, mx, out=sat, where=mx > 0)
    return sat.astype(np.uint8)


def tissue_mask(
    rgb: np.ndarray,
    *,
    min_saturation: float = 20.0,
    max_saturation: float = 45.0,
    dark_value: int = 20,
    min_object_px: float = 0.0,
    max_hole_px: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Tissue mask of an RGB image (see the module docstring for the rule).

    Parameters
    ----------
    rgb
        (h, w, 3) uint8 RGB thumbnail.
    min_saturation, max_saturation
        Bounds of the saturation threshold (0–255).
    dark_value
        Pixels with ``max(R, G, B) < dark_value`` are never tissue.
    min_object_px
        Tissue pieces with fewer pixels than this are removed.
    max_hole_px
        Holes with fewer pixels than this are filled.

    Returns
    -------
    mask : np.ndarray
        (h, w) bool.
    threshold : float
        The saturation threshold used.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    sat = ndimage.median_filter(saturation(rgb), size=3, mode="nearest")
    thr = min(max(otsu_threshold(sat), float(min_saturation)), float(max_saturation))
    mask = (sat > thr) & (np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2]) >= dark_value)
    if min_object_px > 0:
        mask = _drop_small(mask, min_object_px)
    if max_hole_px > 0:
        mask = _fill_small_holes(mask, max_hole_px)
    return mask, thr


def _drop_small(mask: np.ndarray, min_px: float) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())  # (n + 1,)
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def _fill_small_holes(mask: np.ndarray, max_px: float) -> np.ndarray:
    labels, n = ndimage.label(~mask)  # 4-connected background pieces
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = sizes < max_px
    fill[0] = False
    fill[border] = False
    return mask | fill[labels]


def detect_tissue(
    reader,
    *,
    downsample: float = 16.0,
    max_side: int = 4096,
    min_side: int = 512,
    min_object_area: float = 128.0 * 128.0,
    max_hole_area: float = 256.0 * 256.0,
    min_saturation: float = 20.0,
    max_saturation: float = 45.0,
) -> TissueMask:
    """Tissue mask of a slide, computed on a thumbnail.

    Parameters
    ----------
    reader
        A :class:`core.slide.reader.SlideReader` (``dimensions``, ``get_thumbnail``).
    downsample
        Wanted level-0 pixels per mask pixel; the thumbnail's longer side is then clamped to
        ``[min_side, max_side]`` (never larger than the slide).
    min_object_area, max_hole_area
        In level-0 px² (see :func:`tissue_mask`).
    min_saturation, max_saturation
        Bounds of the saturation threshold (0–255).

    Returns
    -------
    TissueMask
        ``mask`` (h, w) bool and its ``downsample`` to level 0.
    """
    width, height = (int(v) for v in reader.dimensions)
    longest = max(width, height)
    side = int(np.clip(round(longest / max(downsample, 1e-6)), min(min_side, longest), max_side))
    thumb = reader.get_thumbnail((side, side))  # (h, w, 3) uint8, aspect kept
    h, w = thumb.shape[:2]
    sx, sy = width / w, height / h
    mask, thr = tissue_mask(
        thumb,
        min_saturation=min_saturation,
        max_saturation=max_saturation,
        min_object_px=min_object_area / (sx * sy),
        max_hole_px=max_hole_area / (sx * sy),
    )
    return TissueMask(mask=mask, downsample=(sx, sy), threshold=thr)


def patch_tissue_fraction(tissue: TissueMask, coords: np.ndarray, patch_size_level0: int) -> np.ndarray:
    """Fraction of each patch covered by tissue.

    Each patch's level-0 square is mapped onto the mask and the covered mask pixels averaged (a
    summed-area table, so any number of patches costs one pass). Parts of a patch outside the slide
    count as background.

    Parameters
    ----------
    tissue
        The slide's :class:`TissueMask`.
    coords
        (N, 2) integer level-0 (x, y) top-left corners.
    patch_size_level0
        Patch side in level-0 pixels.

    Returns
    -------
    np.ndarray
        (N,) float32 in [0, 1].
    """
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    mask = tissue.mask
    h, w = mask.shape
    sat = np.zeros((h + 1, w + 1), dtype=np.int64)  # summed-area table
    sat[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1)
    sx, sy = tissue.downsample
    x0 = np.floor(coords[:, 0] / sx).astype(np.int64)
    y0 = np.floor(coords[:, 1] / sy).astype(np.int64)
    x1 = np.ceil((coords[:, 0] + patch_size_level0) / sx).astype(np.int64)
    y1 = np.ceil((coords[:, 1] + patch_size_level0) / sy).astype(np.int64)
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    cx0, cx1 = np.clip(x0, 0, w), np.clip(x1, 0, w)
    cy0, cy1 = np.clip(y0, 0, h), np.clip(y1, 0, h)
    inside = sat[cy1, cx1] - sat[cy0, cx1] - sat[cy1, cx0] + sat[cy0, cx0]
    return (inside / area).astype(np.float32)
