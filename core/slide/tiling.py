"""Tiling math for the slide view: level choice, tiles covering a viewport, tile rectangles.

Pure functions, no I/O. Coordinates:

* a **viewport** is ``(x0, y0, x1, y1)`` in level-0 pixels (``x1 > x0``, ``y1 > y0``);
* a tile ``TileKey(level, col, row)`` covers the level pixels
  ``[col * ts, min((col + 1) * ts, W_L)) x [row * ts, min((row + 1) * ts, H_L))`` where ``ts`` is the
  tile size and ``(W_L, H_L)`` the level's dimensions; in level-0 pixels that is the same rectangle
  multiplied by the level's downsample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TileKey", "level_for_scale", "tiles_for_viewport", "tile_rect_level0", "tile_level_size", "tile_grid"]

# relative slack when comparing a downsample with the zoom-out factor (float noise from zooming)
_EPS = 1e-6


@dataclass(frozen=True, order=True)
class TileKey:
    """One tile of one pyramid level (immutable, hashable, ordered by level, col, row)."""

    level: int
    col: int
    row: int


def level_for_scale(level_downsamples: Sequence[float], screen_px_per_level0_px: float) -> int:
    """The pyramid level to read for a view at the given screen scale.

    Rule: with ``f = 1 / screen_px_per_level0_px`` level-0 pixels per screen pixel, pick the
    **coarsest** level whose downsample is ``<= f`` (within a relative 1e-6). That level still has
    at least one pixel per screen pixel (no upsampling blur), and no finer level than needed is ever
    read; a view zoomed out past a level's downsample never reads level 0. When zoomed in
    (``f < 1``) the answer is level 0. Same rule as OpenSlide's ``get_best_level_for_downsample``.

    Parameters
    ----------
    level_downsamples
        Downsample of each level, level 0 first (increasing).
    screen_px_per_level0_px
        Current zoom: screen pixels per level-0 pixel (``> 0``; 1 = 1:1, 0.1 = zoomed out 10x).

    Returns
    -------
    int
        Index into ``level_downsamples``.
    """
    if not screen_px_per_level0_px > 0 or not math.isfinite(screen_px_per_level0_px):
        raise ValueError(f"screen scale must be a positive finite number, got {screen_px_per_level0_px}")
    if len(level_downsamples) == 0:
        raise ValueError("a slide has at least one level")
    f = 1.0 / screen_px_per_level0_px
    best = 0
    for i, ds in enumerate(level_downsamples):
        if ds <= f * (1.0 + _EPS) and ds >= level_downsamples[best]:
            best = i
    return best


def tile_grid(level_dimensions: Sequence[tuple[int, int]], level: int, tile_size: int) -> tuple[int, int]:
    """``(n_cols, n_rows)`` of the tile grid of ``level``."""
    w, h = level_dimensions[level]
    return -(-int(w) // tile_size), -(-int(h) // tile_size)


def _centre_first(keys: list[TileKey], cx: float, cy: float, tile_size: int) -> list[TileKey]:
    """Sort tiles by the distance of their centre (level px) to ``(cx, cy)``; ties by row, col."""

    def dist(k: TileKey) -> tuple[float, int, int]:
        tx = (k.col + 0.5) * tile_size
        ty = (k.row + 0.5) * tile_size
        return ((tx - cx) ** 2 + (ty - cy) ** 2, k.row, k.col)

    return sorted(keys, key=dist)


def tiles_for_viewport(
    level_dimensions: Sequence[tuple[int, int]],
    level_downsamples: Sequence[float],
    level: int,
    viewport: tuple[float, float, float, float],
    tile_size: int = 512,
    prefetch: int = 1,
) -> tuple[list[TileKey], list[TileKey]]:
    """Tiles of ``level`` covering ``viewport``, centre first, and a prefetch ring around them.

    Parameters
    ----------
    level_dimensions
        ``(width, height)`` of each level in its own pixels.
    level_downsamples
        Downsample of each level relative to level 0.
    level
        The level to tile (usually from :func:`level_for_scale`).
    viewport
        ``(x0, y0, x1, y1)`` in level-0 pixels; may extend past the slide (it is clipped).
    tile_size
        Tile edge in level pixels.
    prefetch
        Width of the prefetch ring in tiles (0 = none).

    Returns
    -------
    visible, ring
        ``visible``: every tile that overlaps the viewport (positive area) inside the level, each
        once, sorted by distance to the viewport centre; ``ring``: the tiles within ``prefetch``
        tiles of the visible block, clipped to the level, not visible, also centre first. Both
        are empty when the viewport misses the level.
    """
    if tile_size <= 0 or prefetch < 0:
        raise ValueError("tile_size must be positive and prefetch non-negative")
    ds = float(level_downsamples[level])
    ncols, nrows = tile_grid(level_dimensions, level, tile_size)
    w, h = level_dimensions[level]
    x0, y0, x1, y1 = (float(v) / ds for v in viewport)
    # clip to the level (level px)
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
    if cx1 <= cx0 or cy1 <= cy0:
        return [], []
    c0, r0 = int(cx0 // tile_size), int(cy0 // tile_size)
    c1 = min(ncols - 1, int(math.ceil(cx1 / tile_size)) - 1)
    r1 = min(nrows - 1, int(math.ceil(cy1 / tile_size)) - 1)
    mx, my = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    visible = [TileKey(level, c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
    ring = [
        TileKey(level, c, r)
        for r in range(max(0, r0 - prefetch), min(nrows - 1, r1 + prefetch) + 1)
        for c in range(max(0, c0 - prefetch), min(ncols - 1, c1 + prefetch) + 1)
        if not (r0 <= r <= r1 and c0 <= c <= c1)
    ]
    return _centre_first(visible, mx, my, tile_size), _centre_first(ring, mx, my, tile_size)


def tile_rect_level0(
    key: TileKey,
    level_dimensions: Sequence[tuple[int, int]],
    level_downsamples: Sequence[float],
    tile_size: int = 512,
) -> tuple[float, float, float, float]:
    """The rectangle ``(x, y, w, h)`` in level-0 pixels that tile ``key`` covers.

    Edge tiles are clipped to the level, so ``w``/``h`` may be smaller than ``tile_size * ds``.
    """
    ds = float(level_downsamples[key.level])
    w, h = tile_level_size(key, level_dimensions, tile_size)
    return key.col * tile_size * ds, key.row * tile_size * ds, w * ds, h * ds


def tile_level_size(key: TileKey, level_dimensions: Sequence[tuple[int, int]], tile_size: int) -> tuple[int, int]:
    """``(w, h)`` of tile ``key`` in its level's pixels (clipped at the level's edge).

    Raises
    ------
    ValueError
        When the tile lies outside its level.
    """
    lw, lh = level_dimensions[key.level]
    x, y = key.col * tile_size, key.row * tile_size
    if key.col < 0 or key.row < 0 or x >= lw or y >= lh:
        raise ValueError(f"tile {key} lies outside level {key.level} ({lw} x {lh} px)")
    return min(tile_size, int(lw) - x), min(tile_size, int(lh) - y)
