"""Exports of a review: QuPath GeoJSON of patch sets and thresholded maps, CSV of numbers, figure PNG.

* GeoJSON: the squares of the chosen patches (level-0 px) are merged with shapely ``unary_union``;
  each connected region becomes one QuPath annotation whose properties carry ``n_patches`` and,
  when a map is given, the ``score_mean`` / ``score_max`` of its patches. QuPath opens the file
  with File > Import objects (coordinates are level-0 pixels, as QuPath expects).
* Thresholded map: patches whose normalised score (the layer's own normalisation) is at least the
  threshold.
* CSV: one header row and one row per record, written atomically.
* Figure: :func:`render_figure` draws a region of the slide with overlay colours, a colorbar, a
  scale bar and optional outlines (subsets, annotations) with matplotlib (Qt-free); the PNG is
  exactly the requested width in pixels (colorbar included), and parts of the region outside the slide are white (the slide's transparent pixels
  composited on white: a figure goes on a white page, and an alpha channel shows as black in
  viewers that ignore it).

Every writer is atomic; an unwritable folder raises one :class:`EvidentError` naming it.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from core.atomic import atomic_path, atomic_write_text
from core.errors import EvidentError
from core.review.normalise import normalise

__all__ = ["nice_length_um", "patch_regions", "render_figure", "threshold_indices", "write_csv", "write_patch_geojson"]


def patch_regions(coords: np.ndarray, patch_size: int, indices: np.ndarray) -> list[tuple[object, np.ndarray]]:
    """Merge the squares of ``indices`` into connected regions.

    Parameters
    ----------
    coords
        (N, 2) int level-0 top-left corners.
    indices
        (K,) int patches to merge.

    Returns
    -------
    list of (polygon, members)
        Each region's shapely Polygon and the (k,) int64 patch indices whose centre lies in it.
    """
    import shapely  # local: shapely only when used

    idx = np.unique(np.asarray(indices, dtype=np.int64))
    if idx.size == 0:
        return []
    c = np.asarray(coords, dtype=np.float64)[idx]
    merged = shapely.unary_union(shapely.box(c[:, 0], c[:, 1], c[:, 0] + patch_size, c[:, 1] + patch_size))
    centres = c + patch_size / 2.0
    out = []
    for poly in shapely.get_parts(merged):
        inside = shapely.contains_xy(poly, centres[:, 0], centres[:, 1])
        out.append((poly, idx[inside]))
    return out


def _guard(path: Path, what: str):
    class _G:
        def __enter__(self):
            return self

        def __exit__(self, et, ev, tb):
            if isinstance(ev, OSError):
                raise EvidentError(path, f"cannot write the {what} ({ev.strerror or ev})") from None
            return False
    return _G()


def write_patch_geojson(path: str | os.PathLike, coords: np.ndarray, patch_size: int, indices: np.ndarray, *,
                        classification: str = "Evidence", name: str | None = None,
                        scores: np.ndarray | None = None, regions: list | None = None) -> int:
    """Write the merged regions of ``indices`` as a QuPath GeoJSON FeatureCollection.

    ``scores`` ((N,) float, optional) adds ``score_mean`` / ``score_max`` per region; ``regions``
    is what :func:`patch_regions` returned for these patches, when the caller has it already.
    Returns the number of regions written.
    """
    from core.data.annotations import Annotation, write_geojson  # local: pulls in shapely

    p = Path(path)
    anns = []
    for poly, members in patch_regions(coords, patch_size, indices) if regions is None else regions:
        props: dict = {"n_patches": int(members.size)}
        if scores is not None and members.size:
            s = np.asarray(scores, dtype=np.float64)[members]
            s = s[np.isfinite(s)]
            if s.size:
                props.update(score_mean=float(s.mean()), score_max=float(s.max()))
        anns.append(Annotation(geometry=poly, classification=classification, name=name, properties=props))
    with _guard(p, "GeoJSON file"):
        write_geojson(p, anns)
    return len(anns)


def threshold_indices(layer, threshold: float) -> np.ndarray:
    """(K,) int64 patches of a scalar layer whose normalised score (its own settings) is >= ``threshold``."""
    s = layer.settings
    n = normalise(layer.values, s.norm, vmin=s.vmin, vmax=s.vmax, lo_pct=s.lo_pct, hi_pct=s.hi_pct)
    return np.flatnonzero(np.nan_to_num(n, nan=-1.0) >= threshold).astype(np.int64)


def write_csv(path: str | os.PathLike, records: list[dict]) -> Path:
    """Write ``records`` (dicts; the header is the union of their keys in first-seen order) as CSV."""
    p = Path(path)
    header: list[str] = []
    for r in records:
        header.extend(k for k in r if k not in header)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    with _guard(p, "CSV file"):
        atomic_write_text(p, buf.getvalue())
    return p


def render_figure(path: str | os.PathLike, reader, region: tuple[float, float, float, float], *,
                  overlay: np.ndarray | None = None, overlay_rect: tuple[float, float, float, float] | None = None,
                  lut: np.ndarray | None = None, colorbar_label: str = "", colorbar_ends: tuple[str, str] = ("", ""),
                  width_px: int = 1600, title: str = "", outlines: tuple | list = (),
                  background: np.ndarray | None = None, compress_level: int = 6) -> Path:
    """Write a PNG of a slide region with an overlay, its colorbar and a scale bar.

    Parameters
    ----------
    reader
        A :class:`core.slide.reader.SlideReader` (``read_region``, ``best_level_for_downsample``, ``mpp``).
    region
        ``(x0, y0, x1, y1)`` level-0 px.
    overlay
        (h, w, 4) uint8 RGBA drawn over ``overlay_rect`` ``(x, y, w, h)`` level-0 px (a patch-grid
        raster), or ``None``.
    lut
        (256, 4) uint8 colormap for the colorbar (none drawn when ``None``).
    width_px
        Width of the PNG in pixels, colorbar included (exact; at least 64). The height follows the
        region's aspect ratio; the slide is read at the level that gives the image part's width.
    outlines
        ``(geometry, colour, label)`` triples: shapely (Multi)Polygons in level-0 px drawn as
        outlines (exteriors and holes) of a matplotlib colour, listed in a legend under ``label``.
    background
        (h, w, 3) uint8 RGB image of the whole region, drawn instead of reading the slide (e.g. its
        thumbnail with a map already blended in, as docs/heatmaps.md draws it).
    compress_level
        PNG deflate level (0-9; lower is faster and larger).
    """
    import matplotlib  # local: matplotlib only when used

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # local: matplotlib only when used

    p = Path(path)
    width_px = int(width_px)
    if width_px < 64:
        raise EvidentError(p, f"figure width must be at least 64 px, got {width_px}")
    x0, y0, x1, y1 = (float(v) for v in region)
    bar_px = min(160, width_px // 4) if lut is not None else 0  # colorbar strip, inside width_px
    img_px = width_px - bar_px
    height_px = max(int(round(img_px * (y1 - y0) / max(x1 - x0, 1.0))), 64)
    if background is not None:
        rgb = background
    else:
        ds = max((x1 - x0) / img_px, 1.0)
        level = reader.best_level_for_downsample(ds)
        lds = reader.level_downsamples[level]
        size = (max(int((x1 - x0) / lds), 1), max(int((y1 - y0) / lds), 1))
        rgba = reader.read_region((int(x0), int(y0)), level, size)
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        rgb = (rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
        extent = (x0, x0 + size[0] * lds, y0 + size[1] * lds, y0)
    fig = Figure(figsize=(width_px / 100.0, height_px / 100.0), dpi=100,
                 facecolor="white" if background is None else "none")
    ax = fig.add_axes((0.0, 0.0, img_px / width_px, 1.0), facecolor="white" if background is None else "none")
    if background is None:
        ax.imshow(rgb, extent=extent, interpolation="bilinear")
    if overlay is not None and overlay_rect is not None:
        ox, oy, ow, oh = overlay_rect
        ax.imshow(overlay, extent=(ox, ox + ow, oy + oh, oy), interpolation="nearest")
    if outlines:
        _outlines(ax, outlines)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_axis_off()
    if title:
        ax.text(x0 + 0.01 * (x1 - x0), y0 + 0.01 * (y1 - y0), title, fontsize=10, va="top",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    if reader.mpp:
        _scale_bar(ax, region, reader.mpp)
    if lut is not None:
        from matplotlib.cm import ScalarMappable  # local: matplotlib only when used
        from matplotlib.colors import ListedColormap  # local: matplotlib only when used

        cax = fig.add_axes(((img_px + 0.15 * bar_px) / width_px, 0.15, 0.12 * bar_px / width_px, 0.7))
        cb = fig.colorbar(ScalarMappable(cmap=ListedColormap(np.asarray(lut)[:, :3] / 255.0)), cax=cax)
        cb.set_ticks([0, 1], labels=list(colorbar_ends))
        cb.set_label(colorbar_label, fontsize=9)
    with _guard(p, "figure"), atomic_path(p) as tmp:
        if background is None:
            fig.savefig(tmp, format="png", dpi=100, pil_kwargs={"compress_level": int(compress_level)})
        else:
            _save_over(fig, tmp, background, img_px, compress_level)
    return p


def _save_over(fig, path: Path, background: np.ndarray, img_px: int, compress_level: int) -> None:
    """Save ``fig`` (transparent) composited over ``background`` pasted pixel for pixel in its image part.

    Faster than ``imshow`` of a large image: matplotlib draws only the vector parts, the image is
    never resampled by it (only resized with Pillow when its size is off by rounding).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # local: matplotlib only when used
    from PIL import Image  # local: Pillow only when used

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    top = np.asarray(canvas.buffer_rgba())  # (H, W, 4) uint8, straight alpha
    h = top.shape[0]
    out = np.full((h, top.shape[1], 3), 255, dtype=np.uint8)
    img = np.ascontiguousarray(background[..., :3])
    if img.shape[:2] != (h, img_px):
        img = np.asarray(Image.fromarray(img).resize((img_px, h), Image.Resampling.BILINEAR))
    out[:, :img_px] = img
    drawn = top[..., 3] > 0  # text, outlines, the colour bar: blend only there
    t = top[drawn].astype(np.uint16)  # (K, 4)
    a = t[:, 3:4]
    out[drawn] = ((t[:, :3] * a + out[drawn].astype(np.uint16) * (255 - a) + 127) // 255).astype(np.uint8)
    Image.fromarray(out, "RGB").save(path, format="PNG", compress_level=int(compress_level))


def _outlines(ax, outlines) -> None:
    """Draw ``(geometry, colour, label)`` outlines (every ring of every polygon) and their legend."""
    import shapely  # local: shapely only when used
    from matplotlib.collections import LineCollection  # local: matplotlib only when used
    from matplotlib.lines import Line2D  # local: matplotlib only when used

    handles = []
    for geometry, colour, label in outlines:
        rings = []
        for poly in shapely.get_parts(geometry):
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            rings.append(np.asarray(poly.exterior.coords))
            rings.extend(np.asarray(r.coords) for r in poly.interiors)
        ax.add_collection(LineCollection(rings, colors=colour, linewidths=1.2))
        handles.append(Line2D([], [], color=colour, linewidth=1.5, label=label))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)


def nice_length_um(max_um: float) -> float:
    """Largest 1/2/5 × 10^k µm length not exceeding ``max_um`` (0 when ``max_um <= 0``)."""
    if max_um <= 0:
        return 0.0
    e = 10.0 ** math.floor(math.log10(max_um))
    return max(m * e for m in (1.0, 2.0, 5.0) if m * e <= max_um)


def _scale_bar(ax, region, mpp: float) -> None:
    """A black bar of a round length (at most a fifth of the width) in the lower-left corner."""
    from matplotlib.patches import Rectangle  # local: matplotlib only when used

    x0, y0, x1, y1 = region
    um = nice_length_um(0.2 * (x1 - x0) * mpp)
    if um <= 0:
        return
    length = um / mpp
    w, h = x1 - x0, y1 - y0
    bx, by = x0 + 0.04 * w, y1 - 0.06 * h
    ax.add_patch(Rectangle((bx - 0.01 * w, by - 0.07 * h), length + 0.02 * w, 0.11 * h, color="white", alpha=0.8))
    ax.add_patch(Rectangle((bx, by), length, 0.012 * h, color="black"))
    ax.text(bx, by - 0.015 * h, f"{um / 1000:g} mm" if um >= 1000 else f"{um:g} µm", fontsize=9, va="bottom")
