"""Evidence gallery, Qt-free: the top-k / bottom-k patches of a map, their thumbnails, a contact sheet.

A thumbnail is the patch's level-0 square ``[x, x + ps) × [y, y + ps)`` read from the slide at the
coarsest pyramid level that still gives at least ``size`` pixels, resized to ``size × size``.
Reading happens wherever :func:`read_thumbnails` is called (the GUI calls it on a worker thread).
The contact sheet is composed with numpy and labelled with matplotlib (score and rank per tile).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.errors import EvidentError

__all__ = ["GalleryItem", "gallery_items", "read_thumbnail", "read_thumbnails", "write_contact_sheet"]


@dataclass(frozen=True)
class GalleryItem:
    """One gallery tile: patch ``index``, its ``rank`` (1 = highest score), ``score`` and level-0
    ``rect`` ``(x, y, w, h)``."""

    index: int
    rank: int
    score: float
    rect: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.rect
        return x + w / 2.0, y + h / 2.0


def gallery_items(values: np.ndarray, coords: np.ndarray, patch_size: int, k: int, which: str = "top") -> list[GalleryItem]:
    """The ``k`` highest (``which="top"``) or lowest (``"bottom"``) finite scores of (N,) ``values``.

    Ranks count from the highest score (1) with ties broken by patch index, so the bottom items
    carry ranks near N. ``coords`` is (N, 2) int level-0 corners.
    """
    if which not in ("top", "bottom"):
        raise ValueError("which must be 'top' or 'bottom'")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.flatnonzero(np.isfinite(v))
    order = finite[np.argsort(-v[finite], kind="stable")]  # highest first
    rank = np.empty(v.size, dtype=np.int64)
    rank[order] = np.arange(1, order.size + 1)
    pick = order[:k] if which == "top" else order[::-1][:k]
    c = np.asarray(coords, dtype=np.int64)
    ps = int(patch_size)
    return [GalleryItem(int(i), int(rank[i]), float(v[i]), (int(c[i, 0]), int(c[i, 1]), ps, ps)) for i in pick]


def read_thumbnail(reader, rect: tuple[int, int, int, int], size: int = 128) -> np.ndarray:
    """(size, size, 3) uint8 RGB of a level-0 rectangle (nearest-neighbour resize)."""
    x, y, w, h = rect
    level = reader.best_level_for_downsample(max(w / size, 1.0))
    ds = reader.level_downsamples[level]
    lw, lh = max(round(w / ds), 1), max(round(h / ds), 1)
    rgba = reader.read_region((int(x), int(y)), level, (lw, lh))
    ys = np.minimum((np.arange(size) * lh / size).astype(np.int64), lh - 1)
    xs = np.minimum((np.arange(size) * lw / size).astype(np.int64), lw - 1)
    rgb = rgba[ys[:, None], xs[None, :], :3].copy()
    alpha = rgba[ys[:, None], xs[None, :], 3:4].astype(np.float32) / 255.0  # outside the slide: white
    return (rgb * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)


def read_thumbnails(reader, items: list[GalleryItem], size: int = 128,
                    cancel: threading.Event | None = None) -> list[np.ndarray]:
    """Thumbnails of ``items`` in order (stops early, returning what it has, when ``cancel`` is set)."""
    out = []
    for it in items:
        if cancel is not None and cancel.is_set():
            break
        out.append(read_thumbnail(reader, it.rect, size))
    return out


def write_contact_sheet(path: str | os.PathLike, thumbs: list[np.ndarray], items: list[GalleryItem], *,
                        title: str = "", cols: int = 8) -> Path:
    """Write a PNG grid of thumbnails, each captioned ``#rank  score``; returns the path.

    Raises
    ------
    EvidentError
        Nothing to write, or the folder cannot be written.
    """
    import matplotlib  # local: matplotlib only when used

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # local: matplotlib only when used

    p = Path(path)
    if not thumbs:
        raise EvidentError(p, "the gallery is empty; nothing to export")
    size = thumbs[0].shape[0]
    cols = max(1, min(cols, len(thumbs)))
    rows = -(-len(thumbs) // cols)
    pad, cap, head = 6, 18, 24 if title else 0
    sheet = np.full((head + rows * (size + cap + pad) + pad, cols * (size + pad) + pad, 3), 255, np.uint8)
    spots = []
    for j, t in enumerate(thumbs):
        r, c = divmod(j, cols)
        y = head + pad + r * (size + cap + pad)
        x = pad + c * (size + pad)
        sheet[y:y + size, x:x + size] = t[:size, :size, :3]
        spots.append((x, y + size))
    h, w = sheet.shape[:2]
    fig = Figure(figsize=(w / 100.0, h / 100.0), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(sheet, interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    if title:
        ax.text(pad, head / 2 + 2, title, fontsize=10, va="center")
    for (x, y), it in zip(spots, items):
        ax.text(x, y + 2, f"#{it.rank}  {it.score:.3g}", fontsize=7.5, va="top")
    try:
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    except OSError as exc:
        raise EvidentError(p, f"cannot write the contact sheet ({exc.strerror or exc})") from None
    return p
