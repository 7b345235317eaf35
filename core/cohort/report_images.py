"""The pictures of a slide's evidence report: map overviews, top-k tiles, colour bars, as PNG bytes.

A minimal renderer of its own (docs/reports.md), kept in this one module so another renderer can
replace it: :func:`overview_base` gives the background (the slide region under the patches, or a
light grey canvas when no slide file is given) and the level-0 → picture transform;
:func:`map_overview` colours every patch of a map over it with the colormap and normalisation the
viewer uses for that map (:func:`core.review.layers.scalar_layer`, spread maps:
:func:`core.review.layer_roles.spread_role`), and outlines the annotations when there are any.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from core.review.layer_roles import spread_role
from core.review.layers import scalar_layer
from core.review.normalise import colorize, colormap_lut, normalise

__all__ = ["Base", "colorbar_png", "map_overview", "overview_base", "png_bytes", "tile_pngs"]

CANVAS_GREY = 236  # background where no slide is given (and outside the slide)
ANNOTATION_RGB = (255, 120, 0)  # the viewer's annotation orange (core.review.layers.regions_layer)


@dataclass(frozen=True, eq=False)
class Base:
    """A background picture: ``rgb`` (h, w, 3) uint8 showing level-0 pixels from ``origin`` (x, y)
    at ``scale`` picture pixels per level-0 pixel; ``from_slide``: whether it shows the slide."""

    rgb: np.ndarray
    origin: tuple[float, float]
    scale: float
    from_slide: bool


def png_bytes(rgb: np.ndarray) -> bytes:
    """(h, w, 3) or (h, w, 4) uint8 -> PNG file bytes."""
    from PIL import Image  # local: PIL only when used

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _extent(coords: np.ndarray, patch_size: int) -> tuple[int, int, int, int]:
    c = np.asarray(coords, dtype=np.int64)
    x0, y0 = (int(v) for v in c.min(axis=0))
    x1, y1 = (int(v) + int(patch_size) for v in c.max(axis=0))
    return x0, y0, x1, y1


def overview_base(coords: np.ndarray, patch_size: int, *, reader=None, max_side: int = 360) -> Base:
    """The background for the overviews of one slide.

    Parameters
    ----------
    coords
        (N, 2) level-0 patch corners; the picture covers their extent (plus one patch).
    patch_size
        Patch side in level-0 pixels.
    reader
        A :class:`core.slide.reader.SlideReader` of the slide, or ``None`` (grey canvas).
    max_side
        The picture's longer side in pixels.
    """
    x0, y0, x1, y1 = _extent(coords, patch_size)
    scale = max_side / max(x1 - x0, y1 - y0, 1)
    w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    if reader is None:
        return Base(np.full((h, w, 3), CANVAS_GREY, np.uint8), (x0, y0), scale, False)
    from PIL import Image  # local: PIL only when used

    level = reader.best_level_for_downsample(1.0 / scale)
    d = reader.level_downsamples[level]
    size = (max(1, int(np.ceil((x1 - x0) / d))), max(1, int(np.ceil((y1 - y0) / d))))
    rgba = reader.read_region((x0, y0), level, size)
    small = np.asarray(Image.fromarray(rgba).resize((w, h), Image.Resampling.BOX), dtype=np.float64)  # shrink first
    a = small[..., 3:4] / 255.0  # transparent outside the slide: grey there
    rgb = (small[..., :3] * a + CANVAS_GREY * (1.0 - a)).round().clip(0, 255).astype(np.uint8)
    return Base(rgb, (x0, y0), scale, True)


def _patch_boxes(base: Base, coords: np.ndarray, patch_size: int) -> np.ndarray:
    """(N, 4) int picture boxes x0, y0, x1, y1 (at least one pixel wide)."""
    c = (np.asarray(coords, dtype=np.float64) - np.asarray(base.origin)) * base.scale
    lo = np.floor(c).astype(np.int64)
    hi = np.maximum(np.ceil(c + patch_size * base.scale).astype(np.int64), lo + 1)
    h, w = base.rgb.shape[:2]
    return np.column_stack([np.clip(lo[:, 0], 0, w), np.clip(lo[:, 1], 0, h), np.clip(hi[:, 0], 0, w),
                            np.clip(hi[:, 1], 0, h)])


def map_overview(base: Base, coords: np.ndarray, patch_size: int, name: str, values: np.ndarray, *,
                 opacity: float = 0.6, annotations=()) -> tuple[np.ndarray, str, str]:
    """Colour a map's patches over ``base``.

    Parameters
    ----------
    name, values
        The map's name (decides the viewer's style: spread maps in magma, min–max) and (N,) scores.
    annotations
        Shapely geometries in level-0 pixels, outlined in :data:`ANNOTATION_RGB`.

    Returns
    -------
    rgb, colormap, normalisation
        (h, w, 3) uint8 picture, the colormap name and the normalisation in words (for the legend).
    """
    layer = spread_role(scalar_layer(name, values))
    s = layer.settings
    norm = normalise(layer.values, s.norm, vmin=s.vmin, vmax=s.vmax, lo_pct=s.lo_pct, hi_pct=s.hi_pct)
    rgba = colorize(norm, s.colormap, opacity=opacity)
    out = base.rgb.astype(np.float64)
    for (bx0, by0, bx1, by1), (r, g, b, a) in zip(_patch_boxes(base, coords, patch_size), rgba, strict=True):
        if a:
            t = a / 255.0
            out[by0:by1, bx0:bx1] = out[by0:by1, bx0:bx1] * (1.0 - t) + np.array([r, g, b]) * t
    rgb = out.round().astype(np.uint8)
    if annotations:
        rgb = _outline(base, rgb, annotations)
    return rgb, s.colormap, s.describe()


def _outline(base: Base, rgb: np.ndarray, geometries) -> np.ndarray:
    from PIL import Image, ImageDraw  # local: PIL only when used

    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    ox, oy = base.origin
    for g in geometries:
        for poly in getattr(g, "geoms", [g]):
            ring = getattr(poly, "exterior", None)
            if ring is None:
                continue
            pts = [((x - ox) * base.scale, (y - oy) * base.scale) for x, y in ring.coords]
            if len(pts) > 1:
                draw.line(pts, fill=ANNOTATION_RGB, width=2)
    return np.asarray(img, dtype=np.uint8)


def colorbar_png(cmap: str, width: int = 160, height: int = 10) -> bytes:
    """A horizontal colour bar of ``cmap`` (low left, high right) as PNG bytes."""
    lut = colormap_lut(cmap)[:, :3]
    idx = np.round(np.linspace(0, 255, width)).astype(np.intp)
    return png_bytes(np.repeat(lut[idx][None], height, axis=0))


def tile_pngs(reader, coords: np.ndarray, patch_size: int, indices: np.ndarray, side: int = 112) -> list[bytes]:
    """The patches ``indices`` read from the slide at the level nearest ``side`` px, as ``side``² PNGs."""
    from PIL import Image  # local: PIL only when used

    level = reader.best_level_for_downsample(patch_size / side)
    d = reader.level_downsamples[level]
    n = max(1, round(patch_size / d))
    out = []
    for i in np.asarray(indices, dtype=np.int64):
        x, y = (int(v) for v in coords[i])
        rgba = reader.read_region((x, y), level, (n, n))
        a = rgba[..., 3:4].astype(np.float64) / 255.0
        rgb = (rgba[..., :3] * a + CANVAS_GREY * (1.0 - a)).round().astype(np.uint8)
        out.append(png_bytes(np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.LANCZOS))))
    return out
