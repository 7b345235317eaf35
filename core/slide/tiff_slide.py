"""A tifffile-based slide handle for TIFF pyramids OpenSlide refuses (docs/data.md, "Slides OpenSlide cannot open").

OME-TIFFs from QuPath/Bio-Formats and other tiled pyramids are often compressed with a codec libtiff
(and so OpenSlide) does not read -- JPEG 2000, JPEG XL, WebP, LZMA -- or are stored in strips.
:class:`TiffSlide` reads them with ``tifffile`` (+ ``imagecodecs``) behind OpenSlide's own slide
interface (:class:`openslide.AbstractSlide`), so :class:`core.slide.reader.SlideReader` uses it exactly
like an OpenSlide handle. It is chosen only when OpenSlide refuses the file.

Semantics (as OpenSlide's):

* levels: the pyramid of the first image series (OME SubIFDs, or further series/pages of the same
  image at smaller sizes), largest first; ``level_downsamples[i]`` is the mean of the width and
  height ratios to level 0.
* ``read_region((x, y), level, (w, h))``: ``(x, y)`` in level-0 pixels, ``(w, h)`` in level pixels;
  the level pixel origin is ``x / downsample``, ``y / downsample`` rounded to the nearest pixel
  (OpenSlide interpolates a fractional origin, e.g. on a level of downsample 2.0003; rounding is
  exact for a location made as ``round(level_x · downsample)``, and at level 0). Pixels outside the level are
  transparent ``(0, 0, 0, 0)``; inside, alpha is 255. Returns a ``PIL.Image`` in mode RGBA.
* µm per pixel: ``openslide.mpp-x/y`` from the OME ``PhysicalSizeX/Y`` (with their units), else
  from the TIFF resolution tags (centimetre or inch).
* Samples: RGB(A) interleaved or planar, 3 single-channel pages (OME ``CYX``), or one grey channel
  (shown as grey RGB); 16-bit images are scaled to 8 bits (``v >> 8``).

Reads are thread-safe: file access is serialised by a lock, decoding runs in the caller's thread.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from pathlib import Path

import numpy as np
import openslide
from PIL import Image

from core.errors import EvidentError

__all__ = ["TiffSlide", "is_tiff_file"]

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_OME_UNIT_UM = {"pm": 1e-6, "nm": 1e-3, "µm": 1.0, "um": 1.0, "\u03bcm": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
_TIFF_UNIT_UM = {2: 25400.0, 3: 1e4}  # ResolutionUnit: inch, centimetre
_TILE_CACHE = 64  # decoded segments kept per slide


def is_tiff_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts with a TIFF or BigTIFF header."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in _TIFF_MAGIC
    except OSError:
        return False


class _Level:
    """One pyramid level: its pages (one, or one per channel) and their segment grid."""

    def __init__(self, pages: list, width: int, height: int) -> None:
        self.pages, self.width, self.height = pages, width, height
        page = pages[0]
        self.planar = len(pages) == 1 and page.planarconfig == 2 and page.samplesperpixel > 1
        self.chunk_h, self.chunk_w = int(page.chunks[0]), int(page.chunks[1])  # a tile, or a strip (rows, width)
        self.ny, self.nx = math.ceil(height / self.chunk_h), math.ceil(width / self.chunk_w)


class TiffSlide(openslide.AbstractSlide):
    """An OpenSlide-like handle on a TIFF pyramid read by tifffile (see the module docstring).

    Raises
    ------
    EvidentError
        The file is not a TIFF tifffile can read, has no 2-D image, or its samples are not grey,
        RGB or RGBA.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        import tifffile  # local: tifffile only when a slide needs it

        self._path = Path(path)
        with _tifffile_log() as logged:  # tifffile logs what it skips; it goes into our one error, not stderr
            try:
                self._tf = tifffile.TiffFile(self._path)
                self._levels = self._find_levels(self._tf)
            except EvidentError as exc:
                self.close()
                raise EvidentError(self._path, exc.message + _first(logged)) from None
            except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct errors... on bad files
                self.close()
                raise EvidentError(self._path, f"cannot read it ({type(exc).__name__}: {exc})" + _first(logged)) from None
        self._lock = threading.Lock()  # file reads
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()
        w0, h0 = self._levels[0].width, self._levels[0].height
        self._dims = tuple((lv.width, lv.height) for lv in self._levels)
        self._downsamples = tuple((w0 / w + h0 / h) / 2.0 for w, h in self._dims)
        self._props = self._properties()
        #: ``"ome-tiff"`` or ``"tiff"`` (what :attr:`core.slide.reader.SlideReader.format` reports)
        self.format = "ome-tiff" if self._tf.is_ome else "tiff"

    # -- structure -------------------------------------------------------------------------------
    def _find_levels(self, tf) -> list[_Level]:
        if not tf.series:
            raise EvidentError(self._path, "tifffile finds no image in this TIFF")
        series = tf.series[0]
        levels = [self._level(lv) for lv in series.levels]
        for other in tf.series[1:]:  # a pyramid stored as further series (reduced pages), not SubIFDs
            lv = self._level(other.levels[0])
            last = levels[-1]
            if lv.width < last.width and lv.height < last.height and len(lv.pages) == len(last.pages) \
                    and lv.pages[0].samplesperpixel == last.pages[0].samplesperpixel:
                levels.append(lv)
        return levels

    def _level(self, lv) -> _Level:
        axes = lv.axes.upper()
        if "Y" not in axes or "X" not in axes:
            raise EvidentError(self._path, f"image axes {lv.axes!r} have no Y and X")
        shape = dict(zip(axes, lv.shape, strict=True))
        pages = [p.aspage() if hasattr(p, "aspage") else p for p in lv.pages if p is not None]
        page = pages[0]
        extra = {a: n for a, n in shape.items() if a not in "YXS" and n > 1}
        if set(extra) == {"C"} and extra["C"] in (3, 4) and len(pages) >= extra["C"] and page.samplesperpixel == 1:
            pages = pages[:3]  # OME CYX: one page per channel
        elif extra:
            raise EvidentError(self._path, f"image axes {lv.axes!r} {lv.shape}: only 2-D grey/RGB(A) images are read")
        elif page.samplesperpixel not in (1, 3, 4):
            raise EvidentError(self._path, f"{page.samplesperpixel} samples per pixel (grey, RGB or RGBA are read)")
        if page.dtype is None or np.dtype(page.dtype).kind not in "ui" or np.dtype(page.dtype).itemsize > 2:
            raise EvidentError(self._path, f"sample type {page.dtype} (8- or 16-bit integers are read)")
        return _Level(pages, int(shape["X"]), int(shape["Y"]))

    def _properties(self) -> dict[str, str]:
        tf, page = self._tf, self._levels[0].pages[0]
        props = {"openslide.vendor": "tifffile", "evident.reader": "tifffile",
                 "openslide.level-count": str(len(self._levels)),
                 "tiff.Compression": str(getattr(page.compression, "name", page.compression))}
        for i, ((w, h), d) in enumerate(zip(self._dims, self._downsamples, strict=True)):
            props.update({f"openslide.level[{i}].width": str(w), f"openslide.level[{i}].height": str(h),
                          f"openslide.level[{i}].downsample": repr(d)})
        mpp = _ome_mpp(tf.ome_metadata) if tf.is_ome else None
        if mpp is None:
            mpp = _tag_mpp(page)
        if mpp is not None:
            props["openslide.mpp-x"], props["openslide.mpp-y"] = repr(mpp[0]), repr(mpp[1])
        if tf.is_ome:
            mag = _ome_magnification(tf.ome_metadata)
            if mag is not None:
                props["openslide.objective-power"] = repr(mag)
        return props

    # -- the OpenSlide interface -----------------------------------------------------------------
    @classmethod
    def detect_format(cls, filename) -> str | None:
        return "tifffile" if is_tiff_file(filename) else None

    def close(self) -> None:
        tf = getattr(self, "_tf", None)
        if tf is not None:
            tf.close()

    @property
    def level_count(self) -> int:
        return len(self._levels)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._dims

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._downsamples

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._props)

    @property
    def associated_images(self) -> dict[str, Image.Image]:
        return {}

    def get_best_level_for_downsample(self, downsample: float) -> int:
        """OpenSlide's rule: the largest level whose downsample is ≤ ``downsample`` (0 below 1)."""
        best = 0
        for i, d in enumerate(self._downsamples):
            if d <= downsample:
                best = i
        return best

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        """RGBA ``PIL.Image`` of ``size`` (w, h) level pixels whose corner is level-0 ``location`` (x, y)."""
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"region size must be positive, got {size}")
        lv, d = self._levels[level], self._downsamples[level]
        x0, y0 = math.floor(location[0] / d + 0.5), math.floor(location[1] / d + 0.5)
        out = np.zeros((h, w, 4), dtype=np.uint8)
        ax0, ay0 = max(x0, 0), max(y0, 0)
        ax1, ay1 = min(x0 + w, lv.width), min(y0 + h, lv.height)
        if ax1 > ax0 and ay1 > ay0:
            out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, :3] = self._window(level, ay0, ay1, ax0, ax1)
            out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, 3] = 255
        return Image.fromarray(out, "RGBA")

    # -- decoding --------------------------------------------------------------------------------
    def _window(self, level: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(y1 − y0, x1 − x0, 3) uint8 RGB of a window inside the level."""
        lv = self._levels[level]
        channels = []
        if len(lv.pages) > 1:  # one page per channel
            for c, page in enumerate(lv.pages):
                channels.append(self._page_window(level, lv, page, c, 0, y0, y1, x0, x1))
            rgb = np.concatenate(channels, axis=2)
        elif lv.planar:
            for s in range(3 if lv.pages[0].samplesperpixel >= 3 else 1):
                channels.append(self._page_window(level, lv, lv.pages[0], 0, s, y0, y1, x0, x1))
            rgb = np.concatenate(channels, axis=2)
        else:
            rgb = self._page_window(level, lv, lv.pages[0], 0, 0, y0, y1, x0, x1)
        if rgb.dtype.itemsize == 2:
            rgb = (rgb.astype(np.uint16) >> 8).astype(np.uint8)
        rgb = rgb.astype(np.uint8, copy=False)
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        return rgb[:, :, :3]

    def _page_window(self, level: int, lv: _Level, page, c: int, s: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(h, w, S') window of one page: every sample of a contiguous page, or plane ``s`` of a planar one."""
        parts = None
        for ty in range(y0 // lv.chunk_h, (y1 - 1) // lv.chunk_h + 1):
            for tx in range(x0 // lv.chunk_w, (x1 - 1) // lv.chunk_w + 1):
                index = (s * lv.ny + ty) * lv.nx + tx if lv.planar else ty * lv.nx + tx
                seg = self._segment(level, c, page, index)  # (chunk_h', chunk_w, S')
                if parts is None:
                    parts = np.zeros((y1 - y0, x1 - x0, seg.shape[2]), dtype=seg.dtype)
                sy0, sx0 = ty * lv.chunk_h, tx * lv.chunk_w
                iy0, iy1 = max(y0, sy0), min(y1, sy0 + seg.shape[0])
                ix0, ix1 = max(x0, sx0), min(x1, sx0 + seg.shape[1])
                if iy1 > iy0 and ix1 > ix0:
                    parts[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = seg[iy0 - sy0:iy1 - sy0, ix0 - sx0:ix1 - sx0]
        return parts

    def _segment(self, level: int, c: int, page, index: int) -> np.ndarray:
        key = (level, c, index)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        offset, count = int(page.dataoffsets[index]), int(page.databytecounts[index])
        with self._lock:
            fh = self._tf.filehandle
            fh.seek(offset)
            data = fh.read(count)
        try:
            seg, _, _ = page.decode(data, index, jpegtables=page.jpegtables)
        except Exception as exc:  # the codec's own error types
            raise EvidentError(self._path, f"cannot decode tile {index} of level {level} "
                                           f"({type(exc).__name__}: {exc})") from None
        if seg is None:
            raise EvidentError(self._path, f"tile {index} of level {level} is empty in the file")
        lv = self._levels[level]
        seg = np.asarray(seg)
        seg = seg.reshape(-1, lv.chunk_w, seg.shape[-1] if seg.ndim >= 3 and seg.shape[-1] in (1, 3, 4) else 1)
        with self._cache_lock:
            self._cache[key] = seg
            while len(self._cache) > _TILE_CACHE:
                self._cache.popitem(last=False)
        return seg


@contextlib.contextmanager
def _tifffile_log():
    """Collect the messages tifffile logs meanwhile (instead of printing them to stderr): yields a list of str."""
    logged: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logger, handler = logging.getLogger("tifffile"), _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logged
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _first(logged: list[str]) -> str:
    """`` (first message tifffile logged)`` or ``""``."""
    return f" ({logged[0].split('> ', 1)[-1][:200]})" if logged else ""


def _ome_pixels(xml: str | None):
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    return next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None), root


def _ome_mpp(xml: str | None) -> tuple[float, float] | None:
    """µm per pixel (x, y) from the first OME ``Pixels`` element's PhysicalSizeX/Y and their units."""
    found = _ome_pixels(xml)
    if not found or found[0] is None:
        return None
    px = found[0]
    out = []
    for axis in ("X", "Y"):
        try:
            v = float(px.get(f"PhysicalSize{axis}", "nan"))
        except ValueError:
            return None
        unit = _OME_UNIT_UM.get(px.get(f"PhysicalSize{axis}Unit", "µm"))
        if unit is None or not math.isfinite(v) or v <= 0:
            return None
        out.append(v * unit)
    return out[0], out[1]


def _ome_magnification(xml: str | None) -> float | None:
    found = _ome_pixels(xml)
    if not found:
        return None
    for el in found[1].iter():
        if el.tag.rsplit("}", 1)[-1] == "Objective" and el.get("NominalMagnification"):
            try:
                v = float(el.get("NominalMagnification"))
            except ValueError:
                return None
            return v if math.isfinite(v) and v > 0 else None
    return None


def _tag_mpp(page) -> tuple[float, float] | None:
    """µm per pixel from XResolution/YResolution in pixels per centimetre or inch (plausible only: 0.01-100)."""
    tags = page.tags
    unit = _TIFF_UNIT_UM.get(int(tags["ResolutionUnit"].value)) if "ResolutionUnit" in tags else None
    if unit is None or "XResolution" not in tags or "YResolution" not in tags:
        return None
    out = []
    for name in ("XResolution", "YResolution"):
        num, den = tags[name].value
        if not num or not den:
            return None
        out.append(unit / (num / den))
    return (out[0], out[1]) if all(0.01 <= v <= 100 for v in out) else None
