"""A quality-control picture of an extraction: the thumbnail, the tissue mask and the kept patches.

Like TRIDENT's ``visualization/`` and CLAM's stitched previews: glass outside the tissue mask is
dimmed and every kept patch is outlined, so a reviewer sees at a glance what was (not) extracted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.extract.grid import PatchGrid
from core.extract.tissue import TissueMask

__all__ = ["render_preview", "write_preview"]

_OUTLINE = (0, 170, 0)


def render_preview(thumbnail: np.ndarray, tissue: TissueMask, grid: PatchGrid) -> np.ndarray:
    """Draw the mask and the kept patches on a thumbnail.

    Parameters
    ----------
    thumbnail
        (h, w, 3) uint8 RGB of the whole slide (any size; the mask is resized to it).
    tissue
        The tissue mask used for the grid.
    grid
        The patch grid (coords in level-0 pixels).

    Returns
    -------
    np.ndarray
        (h, w, 3) uint8 RGB.
    """
    from PIL import Image, ImageDraw  # local: PIL only when used

    h, w = thumbnail.shape[:2]
    mask = np.asarray(Image.fromarray(tissue.mask).resize((w, h), Image.Resampling.NEAREST))  # (h, w) bool
    out = thumbnail.astype(np.float32)
    out[~mask] *= 0.55  # dim what is not tissue
    img = Image.fromarray(out.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    sx, sy = w / grid.level0_width, h / grid.level0_height
    ps = grid.patch_size_level0_px
    for x, y in grid.coords:
        draw.rectangle([x * sx, y * sy, (x + ps) * sx - 1, (y + ps) * sy - 1], outline=_OUTLINE, width=1)
    return np.asarray(img, dtype=np.uint8)


def write_preview(path: str | os.PathLike, reader, tissue: TissueMask, grid: PatchGrid, max_side: int = 1024) -> Path:
    """Render the preview of a slide (thumbnail fitting ``max_side``) and write it as PNG atomically."""
    from PIL import Image  # local: PIL only when used

    thumb = reader.get_thumbnail((max_side, max_side))  # (h, w, 3) uint8
    p = Path(path)
    with atomic_path(p) as tmp:
        Image.fromarray(render_preview(thumb, tissue, grid)).save(tmp, format="PNG")
    return p
