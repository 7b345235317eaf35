"""A map as an RGBA raster on the patch grid, and as a pyramidal TIFF aligned with its slide.

The raster's pixel ``(i, j)`` covers level-0 pixels ``[j q, (j + 1) q) x [i q, (i + 1) q)`` with
``q = patch_size / px_per_patch`` (level-0 px per overlay pixel), starting at the slide's origin,
so it is ``ceil(W / q) x ceil(H / q)`` for a ``W x H`` slide. A patch with corner ``(x, y)`` paints
the ``px_per_patch²`` pixels from ``(round(x / q), round(y / q))``; where patches overlap, the higher
normalised score is on top. Pixels no patch covers are transparent.

The TIFF (:func:`write_overlay_tiff`, written by :func:`core.demo.tiff_writer.write_pyramid_tiff`:
tiled, deflate, RGBA with unassociated alpha, reduced levels as ``subfiletype=1`` pages) carries
``q × mpp`` µm per pixel in its resolution tags, so OpenSlide reports that mpp and QuPath places it
at the slide's scale: its level-0 extent in µm is the slide's, plus less than one overlay pixel on
the right and bottom edges when ``W`` or ``H`` is not a multiple of ``q`` (docs/heatmaps.md).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["blend_on", "overlay_raster", "write_overlay_tiff"]


def overlay_raster(coords: np.ndarray, patch_size: int, colours: np.ndarray, slide_size: tuple[int, int], *,
                   px_per_patch: int = 1, order: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Paint each patch's colour on the patch grid.

    Parameters
    ----------
    coords
        (N, 2) int level-0 top-left corners.
    patch_size
        Level-0 patch side (px).
    colours
        (N, 4) uint8 RGBA per patch (:func:`core.review.normalise.colorize`).
    slide_size
        Level-0 ``(W, H)`` of the slide.
    px_per_patch
        Overlay pixels along a patch side (≥ 1).
    order
        (N,) float: patches are painted in increasing ``order`` (the last painted is on top where
        patches overlap); ``None`` paints in index order.

    Returns
    -------
    raster, q
        (ceil(H / q), ceil(W / q), 4) uint8 RGBA and ``q``, level-0 px per overlay pixel.
    """
    s = int(px_per_patch)
    if s < 1:
        raise ValueError(f"px_per_patch must be at least 1, got {px_per_patch}")
    q = float(patch_size) / s
    w, h = int(slide_size[0]), int(slide_size[1])
    ow, oh = max(math.ceil(w / q), 1), max(math.ceil(h / q), 1)
    out = np.zeros((oh, ow, 4), dtype=np.uint8)
    c = np.asarray(coords, dtype=np.float64)
    rgba = np.asarray(colours, dtype=np.uint8)
    idx = np.arange(c.shape[0]) if order is None else np.argsort(np.nan_to_num(order, nan=-np.inf), kind="stable")
    x0 = np.floor(c[idx, 0] / q + 0.5).astype(np.int64)
    y0 = np.floor(c[idx, 1] / q + 0.5).astype(np.int64)
    # every (pixel, patch) pair of every offset in painting order; the last pair of each pixel wins
    dy, dx = (a.reshape(-1) for a in np.mgrid[0:s, 0:s])
    xs = (x0[:, None] + dx[None, :]).reshape(-1)
    ys = (y0[:, None] + dy[None, :]).reshape(-1)
    who = np.repeat(idx, s * s)
    ok = np.flatnonzero((xs >= 0) & (xs < ow) & (ys >= 0) & (ys < oh))
    lin = ys[ok] * ow + xs[ok]
    _, last = np.unique(lin[::-1], return_index=True)
    keep = ok[len(ok) - 1 - last]
    out[ys[keep], xs[keep]] = rgba[who[keep]]
    return out, q


def blend_on(image: np.ndarray, raster: np.ndarray, q: float, slide_size: tuple[int, int]) -> np.ndarray:
    """The overlay blended over an image of the whole slide.

    Parameters
    ----------
    image
        (h, w, 3) uint8 RGB of the whole slide (its thumbnail): pixel ``(i, j)`` covers level-0
        ``[j W / w, (j + 1) W / w) x [i H / h, (i + 1) H / h)``.
    raster, q
        What :func:`overlay_raster` returned.

    Returns
    -------
    np.ndarray
        (h, w, 3) uint8: ``image (1 - a) + colour a`` (rounded) with the raster pixel under each pixel centre.
    """
    h, w = image.shape[:2]
    cols = np.minimum(((np.arange(w) + 0.5) * slide_size[0] / w / q).astype(np.int64), raster.shape[1] - 1)
    rows = np.minimum(((np.arange(h) + 0.5) * slide_size[1] / h / q).astype(np.int64), raster.shape[0] - 1)
    over = raster.take(rows, axis=0).take(cols, axis=1)  # (h, w, 4) uint8
    a = over[..., 3:4].astype(np.uint16)
    return ((image[..., :3] * (255 - a) + over[..., :3] * a + 127) // 255).astype(np.uint8)


def write_overlay_tiff(path: str | os.PathLike, raster: np.ndarray, q: float, slide_mpp: float | None, *,
                       description: str = "Evident heatmap overlay") -> Path:
    """Write ``raster`` ((h, w, 4) uint8) as a pyramidal RGBA TIFF, atomically.

    ``q`` is level-0 slide px per raster pixel; the TIFF's µm per pixel is ``q * slide_mpp`` (no
    resolution tags when the slide has no mpp: ``description`` then says the downsample).
    """
    from core.demo.tiff_writer import write_pyramid_tiff  # local: pulls in tifffile

    mpp = None if slide_mpp is None else float(q) * float(slide_mpp)
    text = f"{description}; 1 px = {q:g} slide level-0 px" + ("" if mpp is None else f" = {mpp:g} um")  # TIFF strings are ASCII
    return write_pyramid_tiff(path, np.ascontiguousarray(raster), mpp, tile=256, description=text)
