"""Texture statistics of image batches, vectorised over the batch with numpy slicing.

* gradient magnitude: 3 × 3 Sobel operator on the interior pixels;
* Laplacian: 4-neighbour ``∇²``;
* LBP: 8 neighbours at radius 1, rotation-invariant uniform codes ("riu2", Ojala et al. 2002):
  a code is the number of neighbours ``>=`` the centre when its circular bit pattern has at most 2
  transitions (0–8), else 9 (non-uniform);
* grey-level co-occurrence (GLCM, Haralick 1973) of 8 quantised grey levels at a distance ``d``,
  horizontal and vertical pairs pooled, made symmetric: contrast, homogeneity, energy, correlation;
* blob count: connected components (8-connected, per patch) of a boolean mask with at least
  ``min_px`` pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["sobel_magnitude", "laplacian", "lbp_riu2_histogram", "glcm_features", "count_blobs"]

_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))  # circular order


def _riu2_table() -> np.ndarray:
    table = np.empty(256, dtype=np.int64)
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        table[code] = sum(bits) if transitions <= 2 else 9
    return table


_RIU2 = _riu2_table()  # (256,) code -> riu2 class 0..9


def sobel_magnitude(img: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the interior pixels.

    Parameters
    ----------
    img
        (B, H, W) float32.

    Returns
    -------
    np.ndarray
        (B, H-2, W-2) float32.
    """
    a = img
    gx = (a[:, :-2, 2:] + 2 * a[:, 1:-1, 2:] + a[:, 2:, 2:]) - (a[:, :-2, :-2] + 2 * a[:, 1:-1, :-2] + a[:, 2:, :-2])
    gy = (a[:, 2:, :-2] + 2 * a[:, 2:, 1:-1] + a[:, 2:, 2:]) - (a[:, :-2, :-2] + 2 * a[:, :-2, 1:-1] + a[:, :-2, 2:])
    return np.sqrt(gx * gx + gy * gy) / 8.0


def laplacian(img: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of the interior pixels: (B, H, W) float32 -> (B, H-2, W-2) float32."""
    a = img
    return a[:, :-2, 1:-1] + a[:, 2:, 1:-1] + a[:, 1:-1, :-2] + a[:, 1:-1, 2:] - 4.0 * a[:, 1:-1, 1:-1]


def lbp_riu2_histogram(grey: np.ndarray) -> np.ndarray:
    """Histogram of rotation-invariant uniform LBP codes.

    Parameters
    ----------
    grey
        (B, H, W) uint8.

    Returns
    -------
    np.ndarray
        (B, 10) float64 fractions of interior pixels with riu2 class 0..9.
    """
    b, h, w = grey.shape
    centre = grey[:, 1:-1, 1:-1]
    code = np.zeros(centre.shape, dtype=np.uint8)
    for bit, (dy, dx) in enumerate(_OFFSETS):
        nb = grey[:, 1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
        code |= (nb >= centre).astype(np.uint8) << np.uint8(bit)
    cls = _RIU2[code].reshape(b, -1)  # (B, P)
    cls += (np.arange(b, dtype=np.int64) * 10)[:, None]
    counts = np.bincount(cls.ravel(), minlength=b * 10).reshape(b, 10)
    return counts / max(centre[0].size, 1)


def glcm_features(grey: np.ndarray, distance: int, levels: int = 8) -> np.ndarray:
    """Haralick statistics of the symmetric co-occurrence matrix at one distance.

    Parameters
    ----------
    grey
        (B, H, W) uint8, quantised to ``levels`` equal grey bins.
    distance
        Pixel offset; horizontal (0, d) and vertical (d, 0) pairs are pooled.

    Returns
    -------
    np.ndarray
        (B, 4) float64: contrast ``Σ p (i-j)²`` (in grey-level units²), homogeneity
        ``Σ p / (1 + |i-j|)``, energy ``Σ p²`` and correlation (0 when a patch is flat).
    """
    b = grey.shape[0]
    q = (grey.astype(np.int32) * levels) // 256  # (B, H, W) in 0..levels-1
    base = (np.arange(b, dtype=np.int32) * (levels * levels))[:, None]  # (B, 1)
    counts = np.zeros(b * levels * levels, dtype=np.int64)
    for a, c in ((q[:, :, :-distance], q[:, :, distance:]), (q[:, :-distance, :], q[:, distance:, :])):
        counts += np.bincount(((a * levels + c).reshape(b, -1) + base).ravel(), minlength=counts.size)
    p = counts.reshape(b, levels, levels).astype(np.float64)
    p += p.transpose(0, 2, 1)  # symmetric: count each pair both ways
    p /= p.sum(axis=(1, 2), keepdims=True)
    i = np.arange(levels, dtype=np.float64)[:, None]
    j = np.arange(levels, dtype=np.float64)[None, :]
    contrast = (p * (i - j) ** 2).sum(axis=(1, 2))
    homogeneity = (p / (1.0 + np.abs(i - j))).sum(axis=(1, 2))
    energy = (p * p).sum(axis=(1, 2))
    mu = (p * i).sum(axis=(1, 2))  # symmetric: the same for rows and columns
    var = (p * (i - mu[:, None, None]) ** 2).sum(axis=(1, 2))
    cov = (p * (i - mu[:, None, None]) * (j - mu[:, None, None])).sum(axis=(1, 2))
    corr = np.divide(cov, var, out=np.zeros_like(cov), where=var > 1e-12)
    return np.stack([contrast, homogeneity, energy, corr], axis=1)


def count_blobs(mask: np.ndarray, min_px: int) -> np.ndarray:
    """Number of 8-connected components with at least ``min_px`` pixels in each patch.

    Parameters
    ----------
    mask
        (B, H, W) bool.

    Returns
    -------
    np.ndarray
        (B,) int64.
    """
    b = mask.shape[0]
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # connect within a patch only
    labels, n = ndimage.label(mask, structure=structure)
    if n == 0:
        return np.zeros(b, dtype=np.int64)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)  # (n + 1,)
    # ndimage numbers labels in scan order, so each patch holds a contiguous range of labels
    bounds = np.maximum.accumulate(labels.reshape(b, -1).max(axis=1))  # (B,) last label so far
    patch_of = np.searchsorted(bounds, np.arange(1, n + 1), side="left")  # (n,)
    big = sizes[1:] >= min_px
    return np.bincount(patch_of[big], minlength=b).astype(np.int64)
