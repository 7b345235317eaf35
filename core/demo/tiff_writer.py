"""Write an in-memory RGB(A) image as a pyramidal tiled TIFF that OpenSlide opens with every level.

Follows the rule in ``docs/data.md``: every level is a successive tiled page (not a SubIFD), the
reduced levels carry ``subfiletype=1``, tiles are JPEG (``imagecodecs``) for RGB and lossless
deflate for RGBA (JPEG has no alpha; the alpha is stored as unassociated ``extrasamples``), and the
resolution tags hold the µm per pixel so OpenSlide reports ``openslide.mpp-x/y``. Level ``L`` is the
2^L x 2^L box mean of level 0 (RGBA: the alpha-weighted mean of the colours, the plain mean of the
alpha, so transparent pixels never darken their neighbours); levels are added while the previous
one is larger than a tile. The heatmap overlays of ``evident heatmaps`` are written here too
(docs/heatmaps.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.atomic import atomic_path

__all__ = ["downsample2", "downsample2_rgba", "write_pyramid_tiff"]


def downsample2(img: np.ndarray) -> np.ndarray:
    """Halve an image by 2 x 2 box mean.

    Parameters
    ----------
    img
        (H, W, 3) uint8.

    Returns
    -------
    np.ndarray
        (H // 2, W // 2, 3) uint8 (a trailing odd row/column is dropped).
    """
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    x = img[:h, :w].astype(np.uint16)
    s = x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]  # (H/2, W/2, 3) uint16
    return ((s + 2) // 4).astype(np.uint8)


def downsample2_rgba(img: np.ndarray) -> np.ndarray:
    """Halve an RGBA image: alpha-weighted 2 x 2 mean of the colours, plain mean of the alpha.

    Parameters
    ----------
    img
        (H, W, 4) uint8, unassociated alpha.

    Returns
    -------
    np.ndarray
        (H // 2, W // 2, 4) uint8 (a trailing odd row/column is dropped); fully transparent blocks
        are (0, 0, 0, 0).
    """
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    x = img[:h, :w].astype(np.float64)
    a = x[..., 3:4]
    wsum = lambda v: v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2]  # noqa: E731
    asum = wsum(a)  # (H/2, W/2, 1)
    rgb = np.where(asum > 0, wsum(x[..., :3] * a) / np.maximum(asum, 1e-12), 0.0)
    return np.concatenate([rgb, asum / 4.0], axis=2).round().clip(0, 255).astype(np.uint8)


def write_pyramid_tiff(path: str | os.PathLike, image: np.ndarray, mpp: float | None, *, tile: int = 256,
                       quality: int = 85, description: str = "Evident demo slide",
                       on_level: Callable[[int, np.ndarray], None] | None = None) -> Path:
    """Write ``image`` as a pyramidal TIFF, atomically.

    Parameters
    ----------
    path
        Output ``.tiff``.
    image
        (H, W, 3) uint8 RGB (JPEG tiles) or (H, W, 4) uint8 RGBA with unassociated alpha (deflate
        tiles) level 0.
    mpp
        µm per level-0 pixel of ``image``; ``None`` writes no resolution tags.
    tile
        Tile edge (a positive multiple of 16).
    quality
        JPEG quality (1-100; RGB only).
    description
        ImageDescription of level 0.
    on_level
        Called as ``on_level(downsample, level)`` with every level written ((h, w, 3) uint8), e.g.
        to keep a thumbnail without recomputing it; ``(h, w, 3)`` or ``(h, w, 4)`` like ``image``.

    Returns
    -------
    Path
        ``path``.
    """
    import tifffile  # local: tifffile only when used

    if tile <= 0 or tile % 16:
        raise ValueError(f"tile must be a positive multiple of 16, got {tile}")
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) or (H, W, 4) uint8, got {image.shape} {image.dtype}")
    rgba = image.shape[2] == 4
    if rgba:  # JPEG has no alpha channel: lossless deflate, alpha as an unassociated extra sample
        codec: dict = {"compression": "zlib", "extrasamples": ("unassalpha",)}
    else:
        codec = {"compression": "jpeg", "compressionargs": {"level": int(quality)}}
    res = None if mpp is None else 1e4 / float(mpp)  # pixels per centimetre
    half = downsample2_rgba if rgba else downsample2
    out = Path(path)
    with atomic_path(out) as tmp, tifffile.TiffWriter(tmp, bigtiff=False) as tw:
        level, d = np.ascontiguousarray(image), 1
        while True:
            units = {} if res is None else {"resolution": (res / d, res / d), "resolutionunit": "CENTIMETER"}
            tw.write(level, tile=(tile, tile), photometric="rgb", subfiletype=1 if d > 1 else 0,
                     description=f"{description}, downsample {d}", metadata=None, **codec, **units)
            if on_level is not None:
                on_level(d, level)
            if max(level.shape[:2]) <= tile or min(level.shape[:2]) < 2:
                break
            level, d = half(level), d * 2
    return out
