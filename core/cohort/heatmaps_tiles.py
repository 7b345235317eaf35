"""The top-k patches of a map as one tile sheet PNG, read from the slide.

Each patch is read at the slide level closest to (not coarser than) ``patch_size / tile_px``
level-0 px per pixel, which is the patch's own extraction level when the tile is drawn at the
patch's pixel size (``tile_px`` = the patch side in pixels at that level), then resized to
``tile_px`` square, composited on white, and captioned with its rank and score. Tiles run left to
right, top to bottom, highest score first, on a white grid with a 4-px gutter.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["write_tile_sheet"]

_GUTTER = 4
_CAPTION = 16


def write_tile_sheet(path: str | os.PathLike, reader, coords: np.ndarray, patch_size: int, indices: np.ndarray,
                     values: np.ndarray, *, tile_px: int = 160, title: str = "") -> Path:
    """Write the tile sheet of ``indices`` atomically.

    Parameters
    ----------
    reader
        A :class:`core.slide.reader.SlideReader`.
    coords
        (N, 2) int level-0 corners; ``patch_size`` their level-0 side.
    indices
        (K,) int patches, in the order drawn.
    values
        (N,) float scores, shown under each tile.
    tile_px
        Edge of each tile in the sheet (px).

    Returns
    -------
    Path
        ``path``; the PNG is ``cols * (tile_px + 4) + 4`` wide with ``cols = ceil(sqrt(K))``.
    """
    from PIL import Image, ImageDraw  # local: Pillow only when used

    from core.atomic import atomic_path  # local: keeps this module light

    idx = np.asarray(indices, dtype=np.int64)
    k = max(idx.size, 1)
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    head = _CAPTION + _GUTTER if title else 0
    sheet = Image.new("RGB", (cols * (tile_px + _GUTTER) + _GUTTER,
                              head + rows * (tile_px + _CAPTION + _GUTTER) + _GUTTER), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((_GUTTER, _GUTTER), title, fill=(0, 0, 0))
    level = reader.best_level_for_downsample(max(patch_size / tile_px, 1.0))
    ds = reader.level_downsamples[level]
    side = max(int(math.ceil(patch_size / ds)), 1)
    for r, i in enumerate(idx):
        x, y = (int(v) for v in coords[i])
        rgba = reader.read_region((x, y), level, (side, side))  # (side, side, 4) uint8
        tile = Image.new("RGB", (side, side), (255, 255, 255))
        tile.paste(Image.fromarray(rgba, "RGBA"), (0, 0), Image.fromarray(rgba[..., 3], "L"))
        tile = tile.resize((tile_px, tile_px), Image.Resampling.LANCZOS)
        cx = _GUTTER + (r % cols) * (tile_px + _GUTTER)
        cy = head + _GUTTER + (r // cols) * (tile_px + _CAPTION + _GUTTER)
        sheet.paste(tile, (cx, cy))
        draw.text((cx, cy + tile_px + 2), f"#{r + 1}  {float(values[i]):.4g}  ({x}, {y})", fill=(0, 0, 0))
    out = Path(path)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG", compress_level=1)
    return out
