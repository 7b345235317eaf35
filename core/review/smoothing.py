"""Optional Gaussian smoothing of per-patch scores on the patch grid (display only).

Smoothing is a normalised convolution: scores and a "has a patch" indicator are both blurred by a
Gaussian of ``sigma`` patches and divided, so empty cells (background, no patch) neither pull the
scores towards zero nor receive a value. Non-finite scores count as missing. On a lattice grid this
is :func:`scipy.ndimage.gaussian_filter` on the (rows, cols) raster; off-lattice patches are weighted
by ``exp(-d² / 2σ²)`` over centre distances ``d`` in patch sides, cut at 4σ.
"""

from __future__ import annotations

import numpy as np

from core.review.patch_grid import PatchLattice

__all__ = ["smooth_scores"]


def smooth_scores(grid: PatchLattice, values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed scores.

    Parameters
    ----------
    grid
        The bag's :class:`PatchLattice` (N patches).
    values
        (N,) float scores; NaN/inf are missing (they stay NaN and do not contribute).
    sigma
        Gaussian standard deviation in patches; ``0`` returns the scores unchanged.

    Returns
    -------
    np.ndarray
        (N,) float64 smoothed scores (NaN where the input was not finite).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape[0] != grid.coords.shape[0]:
        raise ValueError(f"{v.shape[0]} scores for {grid.coords.shape[0]} patches")
    if sigma < 0 or not np.isfinite(sigma):
        raise ValueError("sigma must be a finite number >= 0")
    if sigma == 0 or v.size == 0:
        return v.copy()
    ok = np.isfinite(v)
    x = np.where(ok, v, 0.0)
    if grid.is_lattice:
        from scipy.ndimage import gaussian_filter  # local: scipy only when used

        rows, cols = np.nonzero(grid.index >= 0)
        idx = grid.index[rows, cols]
        num = np.zeros(grid.shape)
        den = np.zeros(grid.shape)
        num[rows, cols] = x[idx]
        den[rows, cols] = ok[idx]
        num = gaussian_filter(num, sigma, mode="constant", truncate=4.0)
        den = gaussian_filter(den, sigma, mode="constant", truncate=4.0)
        out = np.empty_like(v)
        out[idx] = num[rows, cols] / np.maximum(den[rows, cols], 1e-300)
    else:
        from scipy.spatial import cKDTree  # local: scipy only when used

        centres = (np.asarray(grid.coords, dtype=np.float64) + grid.patch_size_level0_px / 2.0) / grid.patch_size_level0_px
        tree = cKDTree(centres)
        d = tree.sparse_distance_matrix(tree, 4.0 * sigma, output_type="coo_matrix")  # self-pairs included
        w = np.exp(-(d.data**2) / (2.0 * sigma**2))
        r, c = d.row, d.col
        num = np.bincount(r, weights=w * x[c], minlength=v.size)
        den = np.bincount(r, weights=w * ok[c], minlength=v.size)
        out = num / np.maximum(den, 1e-300)
    out[~ok] = np.nan
    return out
