"""Write an in-memory RGB image as a pyramidal tiled JPEG TIFF that OpenSlide opens with every level.

Follows the rule in ``docs/data.md``: every level is a successive tiled page (not a SubIFD), the
reduced levels carry ``subfiletype=1``, tiles are JPEG (``imagecodecs``), and the resolution tags
hold the µm per pixel so OpenSlide reports ``openslide.mpp-x/y``. Level ``L`` is the 2^L x 2^L
box mean of level 0; levels are added while the previous one is larger than a tile.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.atomic import atomic_path

__all__ = ["downsample2", "write_pyramid_tiff"]


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


def write_pyramid_tiff(path: str | os.PathLike, image: np.ndarray, mpp: float, *, tile: int = 256,
                       quality: int = 85, description: str = "Evident demo slide",
                       on_level: Callable[[int, np.ndarray], None] | None = None) -> Path:
    """Write ``image`` as a pyramidal TIFF, atomically.

    Parameters
    ----------
    path
        Output ``.tiff``.
    image
        (H, W, 3) uint8 RGB level 0.
    mpp
        µm per level-0 pixel.
    tile
        Tile edge (a positive multiple of 16).
    quality
        JPEG quality (1-100).
    description
        ImageDescription of level 0.
    on_level
        Called as ``on_level(downsample, level)`` with every level written ((h, w, 3) uint8), e.g.
        to keep a thumbnail without recomputing it.

    Returns
    -------
    Path
        ``path``.
    """
    import tifffile  # local: tifffile only when used

    if tile <= 0 or tile % 16:
        raise ValueError(f"tile must be a positive multiple of 16, got {tile}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    res = 1e4 / float(mpp)  # pixels per centimetre
    out = Path(path)
    with atomic_path(out) as tmp, tifffile.TiffWriter(tmp, bigtiff=False) as tw:
        level, d = np.ascontiguousarray(image), 1
        while True:
            tw.write(level, tile=(tile, tile), photometric="rgb", compression="jpeg",
                     compressionargs={"level": int(quality)},
                     subfiletype=1 if d > 1 else 0, resolution=(res / d, res / d),
                     resolutionunit="CENTIMETER", description=f"{description}, downsample {d}",
                     metadata=None)
            if on_level is not None:
                on_level(d, level)
            if max(level.shape[:2]) <= tile or min(level.shape[:2]) < 2:
                break
            level, d = downsample2(level), d * 2
    return out
