"""A large pyramidal tiled TIFF built from real tissue: the stand-in for a 100k x 100k slide.

The level-0 image is a centre crop of the real source region (a whole number of tiles where the
source allows: 2048 x 2816 of the CMU 2220 x 2967) tiled with mirrored copies (even copies as is,
odd copies flipped), so every seam is a natural mirror edge, never a flat colour. Each reduced
level ``L`` is the 2^L x 2^L box mean of level 0 (before JPEG, rounded to uint8). Both are periodic: level ``L`` repeats with
period ``lcm(2n, 2^L) / 2^L <= 2n`` along an axis whose source length is ``n``, so one period
(``base``, computed with sparse box-filter operators on the source) is built per level and the
tiles are gathered from it. Memory stays bounded by a few source-sized arrays whatever the output
size; JPEG tiles stream into :mod:`tifffile` from a generator, and tiles at the same phase of the
period are encoded once, so the build costs little more than writing the file.

OpenSlide's generic-TIFF reader sees all levels because every level is a successive tiled page and
the reduced ones carry ``subfiletype=1`` (a SubIFD pyramid shows as one level). Tiles are JPEG
(needs ``imagecodecs``); the resolution tags carry the µm per pixel so the mpp is read back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.data.realdata import data_dir, fetch
from core.errors import EvidentError

__all__ = ["build_pyramid_tiff", "large_slide_path", "pyramid_level_sizes", "mirror_index", "level_base"]

_MAX_SOURCE = 4096  # largest source crop edge (level-0 px)
_MEMO = 8192  # most distinct encoded tiles remembered per level (~10 kB each)


def mirror_index(i: np.ndarray, n: int) -> np.ndarray:
    """Map output positions ``i`` (int64) onto a source axis of length ``n`` by mirrored tiling.

    ``0..n-1`` map to themselves, ``n..2n-1`` to ``n-1..0``, then the pattern repeats.
    """
    m = np.asarray(i, dtype=np.int64) % (2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def pyramid_level_sizes(size: tuple[int, int], tile: int) -> list[tuple[int, int]]:
    """``(W, H)`` of every level: level ``L`` is ``(W // 2^L, H // 2^L)``; stop once one fits a tile."""
    w, h = int(size[0]), int(size[1])
    sizes = [(w, h)]
    while max(sizes[-1]) > tile and min(sizes[-1]) >= 2:
        d = 2 ** len(sizes)
        sizes.append((w // d, h // d))
    return sizes


def _box_operator(n_out: int, n_src: int, d: int):
    """Sparse ``(n_out, n_src)`` float32 operator: output ``k`` = mean of mirrored source ``k*d..k*d+d-1``."""
    from scipy import sparse  # local: scipy only when used

    rows = np.repeat(np.arange(n_out, dtype=np.int64), d)
    cols = mirror_index(np.arange(n_out * d, dtype=np.int64), n_src)
    data = np.full(rows.shape, 1.0 / d, dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(n_out, n_src), dtype=np.float32)


def level_base(src: np.ndarray, d: int) -> np.ndarray:
    """One period of the mirrored-tiled source box-filtered by ``d``.

    Parameters
    ----------
    src
        ``(h, w, 3)`` uint8 source RGB.
    d
        Downsample (a power of two).

    Returns
    -------
    np.ndarray
        ``(py, px, 3)`` uint8 with ``py = lcm(2h, d) / d`` and ``px = lcm(2w, d) / d``; the level is
        ``base[Y % py, X % px]``.
    """
    h, w = src.shape[:2]
    py, px = math.lcm(2 * h, d) // d, math.lcm(2 * w, d) // d
    if d == 1:
        return src[mirror_index(np.arange(py), h)][:, mirror_index(np.arange(px), w)]
    ay, ax = _box_operator(py, h, d), _box_operator(px, w, d)
    s = src.astype(np.float32)
    rows = (ay @ s.reshape(h, w * 3)).reshape(py, w, 3)  # (py, w, 3) float32
    cols = ax @ rows.transpose(1, 0, 2).reshape(w, py * 3)  # (px, py*3) float32
    out = cols.reshape(px, py, 3).transpose(1, 0, 2)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _encoded_tiles(base: np.ndarray, size: tuple[int, int], tile: int, quality: int) -> Iterator[bytes]:
    """Row-major JPEG tiles of the level ``base[Y % py, X % px]`` of ``size`` ``(W, H)``.

    Encoded as tifffile does for ``photometric="rgb", compression="jpeg"`` (YCbCr, 2x2 chroma
    subsampling); edge tiles are padded to the full tile by repeating the edge (OpenSlide crops
    them). Tiles at the same phase of the period are identical, so each is encoded once
    (memo bounded to ``_MEMO`` tiles).
    """
    import imagecodecs  # local: imagecodecs only when used

    w, h = size
    py, px = base.shape[:2]
    memo: dict[tuple[int, int, int, int], bytes] = {}
    for y0 in range(0, h, tile):
        th = min(tile, h - y0)
        strip = base[np.arange(y0, y0 + th) % py]
        for x0 in range(0, w, tile):
            tw = min(tile, w - x0)
            key = (y0 % py, x0 % px, th, tw)
            data = memo.get(key)
            if data is None:
                t = strip[:, np.arange(x0, x0 + tw) % px]  # (th, tw, 3) uint8
                if th < tile or tw < tile:
                    t = np.pad(t, ((0, tile - th), (0, tile - tw), (0, 0)), mode="edge")
                data = imagecodecs.jpeg8_encode(np.ascontiguousarray(t), level=quality, colorspace="RGB",
                                                outcolorspace="YCBCR", subsampling=(2, 2))
                if len(memo) < _MEMO:
                    memo[key] = data
            yield data


def _read_source(src_slide_path: str | os.PathLike, tile: int) -> tuple[np.ndarray, float | None]:
    """Centre crop of the source's level 0 as ``(h, w, 3)`` uint8 RGB on white.

    The crop is at most 4096 px a side and a multiple of ``tile`` where the source allows (CMU:
    2048 x 2816 of 2220 x 2967), so the mirrored period is a whole number of tiles.
    """
    from core.slide.reader import open_slide  # local: pulls in openslide

    with open_slide(src_slide_path) as r:
        w, h = r.dimensions
        cw, ch = (min(v, _MAX_SOURCE) for v in (w, h))
        cw, ch = (v // tile * tile if v >= tile else v for v in (cw, ch))
        rgba = r.read_region(((w - cw) // 2, (h - ch) // 2), 0, (cw, ch))
        mpp = r.mpp
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mpp


def build_pyramid_tiff(
    src_slide_path: str | os.PathLike,
    out_path: str | os.PathLike,
    size: tuple[int, int] = (51200, 51200),
    tile: int = 256,
    quality: int = 80,
    mpp: float | None = None,
) -> Path:
    """Write a pyramidal tiled JPEG TIFF of ``size`` built from the real tissue of a slide.

    Parameters
    ----------
    src_slide_path
        The real slide (e.g. the CMU region); its level 0 is the tissue that is tiled.
    out_path
        The TIFF to write (atomically: no half-written file on failure).
    size
        Level-0 ``(width, height)``.
    tile
        Tile edge (a multiple of 16).
    quality
        JPEG quality (1-100).
    mpp
        µm per level-0 pixel written to the resolution tags; default the source's (0.499 for CMU).

    Returns
    -------
    Path
        ``out_path``.
    """
    import tifffile  # local: tifffile only when used

    if tile % 16 or tile <= 0:
        raise ValueError(f"tile must be a positive multiple of 16, got {tile}")
    if min(size) < 1:
        raise ValueError(f"size must be positive, got {size}")
    src, src_mpp = _read_source(src_slide_path, tile)
    mpp = mpp or src_mpp or 0.5
    res = 1e4 / mpp  # pixels per centimeter
    sizes = pyramid_level_sizes(size, tile)
    out = Path(out_path)
    with atomic_path(out) as tmp, tifffile.TiffWriter(tmp, bigtiff=True) as tw:
        for lvl, (w, h) in enumerate(sizes):
            d = 2 ** lvl
            base = level_base(src, d)
            tw.write(
                _encoded_tiles(base, (w, h), tile, int(quality)),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(tile, tile),
                photometric="rgb",
                compression="jpeg",
                subfiletype=1 if lvl else 0,
                resolution=(res / d, res / d),
                resolutionunit="CENTIMETER",
                description=f"Evident synthetic pyramid from {Path(src_slide_path).name}, level {lvl}",
                metadata=None,
            )
    return out


def large_slide_path(size: int = 51200, cache: str | os.PathLike | None = None) -> Path:
    """The cached ``large_cmu_<size>.tiff`` (square), built from the real CMU region on first use.

    It lives in ``cache`` (default: the real-data folder, ``~/.cache/evident/data``); the CMU region
    itself is always fetched into the real-data folder. About 5 s and 630 MB for 51200 x 51200.

    Raises
    ------
    EvidentError
        When the CMU region cannot be fetched or the TIFF cannot be written.
    """
    folder = Path(cache) if cache else data_dir()
    out = folder / f"large_cmu_{int(size)}.tiff"
    if out.exists():
        return out
    src = fetch("cmu_slide")
    try:
        return build_pyramid_tiff(src, out, size=(int(size), int(size)))
    except OSError as exc:
        raise EvidentError(out, f"cannot write the large test slide ({exc.strerror or exc})") from None
