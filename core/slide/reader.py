"""Open a whole-slide image (everything OpenSlide reads, plus PNG/JPEG) behind one small interface.

OpenSlide 4.0 has no image fallback for PNG/JPEG, so those open as :class:`openslide.ImageSlide`
(decoded once into memory). A TIFF that OpenSlide refuses (an OME-TIFF in JPEG 2000 / JPEG XL /
WebP / LZMA tiles, a stripped pyramid, ...) opens with :class:`core.slide.tiff_slide.TiffSlide`
(tifffile), and only then: whatever OpenSlide opens stays OpenSlide's (docs/data.md, "Slides
OpenSlide cannot open"). One handle is shared by all threads: OpenSlide reads are thread-safe,
and plain-image reads are serialised by a lock.

Microns per pixel come from ``openslide.mpp-x/y``; when absent (generic TIFF) from the TIFF
resolution tags (``tiff.XResolution`` in pixels per ``tiff.ResolutionUnit``), accepted only when
plausible (0.01–100 µm/px: the 72-dpi default of many writers is not a microscope scale). Objective
power is ``openslide.objective-power``; when absent it is derived from the mpp as ``10 / mpp``
snapped to the nearest standard objective (1.25, 2.5, 5, 10, 20, 40, 60, 80, 100×) in log scale
(0.499 µm/px -> 20×, 0.25 -> 40×).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openslide
from PIL import Image

from core.errors import EvidentError
from core.memory_budget import check_fits
from core.slide.tiling import level_for_scale

__all__ = ["SlideReader", "open_slide", "IMAGE_SUFFIXES", "STANDARD_OBJECTIVES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_IMAGE_FORMATS = ("PNG", "JPEG")  # Pillow format names opened as plain images whatever the suffix
STANDARD_OBJECTIVES = (1.25, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0)
_UNIT_UM = {"centimeter": 1e4, "inch": 25400.0}


def open_slide(path: str | os.PathLike) -> SlideReader:
    """Open ``path`` as a slide; see :class:`SlideReader`.

    Raises
    ------
    EvidentError
        Missing file, a folder, or a file OpenSlide/Pillow cannot open.
    """
    return SlideReader(path)


#: A thumbnail's source level above this many bytes (RGBA) is read block by block.
_THUMBNAIL_LEVEL_BYTES = 256 * 2**20
_THUMBNAIL_BLOCK = 4096

class SlideReader:
    """A read-only, thread-safe view of one slide.

    Attributes
    ----------
    path : Path
    dimensions : tuple[int, int]
        Level-0 ``(width, height)``.
    level_count : int
    level_dimensions : tuple[tuple[int, int], ...]
    level_downsamples : tuple[float, ...]
    mpp : float | None
        µm per level-0 pixel (mean of x and y).
    objective_power : float | None
    vendor : str | None
        OpenSlide's vendor (``"aperio"``, ``"generic-tiff"``, ...); ``None`` for plain images.
    icc_profile : bytes | None
        The slide's embedded ICC colour profile (raw bytes), or ``None`` when it has none
        (core/slide/colour.py converts tiles to sRGB with it; docs/colour.md).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise EvidentError(self.path, "no such file")
        if self.path.is_dir():
            raise EvidentError(self.path, "is a folder, not a slide file")
        if not os.access(self.path, os.R_OK):
            raise EvidentError(self.path, "cannot read the file (permission denied)")
        self._lock = threading.Lock()  # guards handle replacement and plain-image reads
        self._retired: list[Any] = []
        self._is_image = False
        self._closed = False
        self._busy = threading.Condition()  # counts reads in flight so close() can wait for them
        self._inflight = 0
        self._osr = self._open()
        props = dict(self._osr.properties)
        self.properties: dict[str, str] = props
        self.dimensions = tuple(int(v) for v in self._osr.dimensions)
        self.level_count = int(self._osr.level_count)
        self.level_dimensions = tuple((int(w), int(h)) for w, h in self._osr.level_dimensions)
        self.level_downsamples = tuple(float(d) for d in self._osr.level_downsamples)
        self.mpp = _read_mpp(props)
        self.objective_power = _read_objective(props, self.mpp)
        self.vendor = props.get("openslide.vendor") if not self._is_image else None
        self.format = self._format
        self.icc_profile = _icc_bytes(self._osr)

    # -- opening ---------------------------------------------------------------------------------
    def _open(self) -> Any:
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
            return self._open_image()
        try:
            fmt = openslide.OpenSlide.detect_format(self.path)
            osr = openslide.OpenSlide(self.path)
        except openslide.OpenSlideUnsupportedFormatError:
            with warnings.catch_warnings():  # Pillow warns "Corrupt EXIF data" on truncated TIFFs; the error says it
                warnings.simplefilter("ignore", UserWarning)
                image_format = openslide.ImageSlide.detect_format(self.path)
            if image_format in _IMAGE_FORMATS:  # PNG/JPEG, odd suffix
                return self._open_image()
            return self._open_tiff("not a slide format OpenSlide can read (unsupported or corrupt file)")
        except openslide.OpenSlideError as exc:
            return self._open_tiff(f"cannot open slide ({exc})")
        self._format = fmt
        return osr

    def _open_tiff(self, openslide_problem: str) -> Any:
        """The tifffile handle of a TIFF OpenSlide refused; else one error saying what each reader said."""
        from core.slide.tiff_slide import TiffSlide, is_tiff_file  # local: tifffile only when OpenSlide refuses

        if not is_tiff_file(self.path):
            raise EvidentError(self.path, openslide_problem)
        try:
            handle = TiffSlide(self.path)
        except EvidentError as exc:
            raise EvidentError(self.path, f"neither reader can open it: OpenSlide: {openslide_problem}; "
                                          f"tifffile: {exc.message}") from None
        self._format = handle.format
        return handle

    def _open_image(self) -> Any:
        try:
            with warnings.catch_warnings():
                # a whole-slide-sized PNG is legitimate here; Pillow's hard limit still applies
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": an error follows if it matters
                with Image.open(self.path) as im:
                    self._format = (im.format or "image").lower()
                    # decoded + RGBA copy + OpenSlide's copy, from the size the header declares
                    check_fits(self.path, 12.0 * im.size[0] * im.size[1], f"a {im.size[0]} x {im.size[1]} px image")
                    im.load()
                    rgba = im.convert("RGBA")
        except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
            raise EvidentError(self.path, f"cannot read image ({exc})") from None
        self._is_image = True
        return openslide.ImageSlide(rgba)

    def _reopen(self, broken: Any) -> None:
        """Replace a handle that raised (OpenSlide handles stay in error state after a failure).

        The broken handle is closed only in :meth:`close`, since other threads may still use it.
        """
        with self._lock:
            if self._osr is not broken or self._is_image:
                return
            try:
                fresh = openslide.OpenSlide(self.path)
            except openslide.OpenSlideError:
                return  # keep the broken handle: later reads retry on private handles
            self._retired.append(broken)
            self._osr = fresh

    # -- reading ---------------------------------------------------------------------------------
    def _handle(self) -> Any:
        if self._closed:
            raise EvidentError(self.path, "the slide was closed")
        return self._osr

    def _call(self, fn: Callable[[Any], Any], what: str) -> Any:
        """Run :meth:`_read` while counting it as in flight, so :meth:`close` waits for it."""
        with self._busy:
            if self._closed:
                raise EvidentError(self.path, "the slide was closed")
            self._inflight += 1
        try:
            return self._read(fn, what)
        finally:
            with self._busy:
                self._inflight -= 1
                self._busy.notify_all()

    def _read(self, fn: Callable[[Any], Any], what: str) -> Any:
        """Run ``fn(handle)`` on the shared handle; on an OpenSlide error retry on a private one.

        An error leaves an OpenSlide handle in error state, so reads of *good* tiles running on the
        shared handle at that moment in other threads fail too. After any error the shared handle
        is replaced, and the read is retried once on a fresh handle that no other thread uses: it
        fails again only when the region really cannot be decoded.
        """
        osr = self._handle()
        if self._is_image:
            with self._lock:
                return fn(osr)
        try:
            return fn(osr)
        except openslide.OpenSlideError:
            self._reopen(osr)
        try:
            private = openslide.OpenSlide(self.path)
        except openslide.OpenSlideError as exc:
            raise EvidentError(self.path, f"cannot reopen the slide to read {what} ({exc})") from None
        try:
            return fn(private)
        except openslide.OpenSlideError as exc:
            raise EvidentError(self.path, f"cannot decode {what} ({exc})") from None
        finally:
            private.close()

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """Read a region of one level.

        Parameters
        ----------
        location
            ``(x, y)`` top-left corner in level-0 pixels.
        level
            Pyramid level.
        size
            ``(w, h)`` in pixels of ``level``.

        Returns
        -------
        np.ndarray
            ``(h, w, 4)`` uint8 RGBA (transparent outside the slide).

        Raises
        ------
        EvidentError
            When the slide's tiles in that region cannot be decoded.
        """
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range (slide has {self.level_count})")
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"region size must be positive, got {size}")
        loc = (int(location[0]), int(location[1]))
        img = self._call(lambda osr: osr.read_region(loc, level, (w, h)),
                         f"region x={loc[0]} y={loc[1]} level={level} size={w}x{h}")
        return np.asarray(img, dtype=np.uint8)

    def get_thumbnail(self, max_size: tuple[int, int]) -> np.ndarray:
        """A thumbnail fitting in ``max_size`` ``(w, h)``: ``(h, w, 3)`` uint8 RGB.

        Reads the coarsest adequate level, so it also checks that those tiles decode. A level
        larger than 256 MiB (a slide without a pyramid, or a damaged header declaring 200,000² px)
        is read 4096² px at a time instead of whole, so memory stays bounded.
        """
        size = (max(int(max_size[0]), 1), max(int(max_size[1]), 1))
        w0, h0 = self.dimensions
        down = max(w0 / size[0], h0 / size[1], 1.0)
        level = self.best_level_for_downsample(down)
        lw, lh = self.level_dimensions[level]
        if self._is_image or lw * lh * 4 <= _THUMBNAIL_LEVEL_BYTES:
            img = self._call(lambda osr: osr.get_thumbnail(size), "the slide's tiles for a thumbnail")
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
        # OpenSlide would read the whole level into one image: a 200,000² px level is 149 GiB.
        # Read the smallest level block by block and shrink each block into its part of the thumbnail.
        return self._blockwise_thumbnail((max(int(w0 / down), 1), max(int(h0 / down), 1)))

    def _blockwise_thumbnail(self, out_size: tuple[int, int]) -> np.ndarray:
        """``(h, w, 3)`` uint8 thumbnail of ``out_size`` (w, h) from the smallest level, 4096² px at a time."""
        level = self.level_count - 1
        lw, lh = self.level_dimensions[level]
        ds = self.level_downsamples[level]
        tw, th = out_size
        thumb = Image.new("RGB", (tw, th), (255, 255, 255))
        for y in range(0, lh, _THUMBNAIL_BLOCK):
            for x in range(0, lw, _THUMBNAIL_BLOCK):
                bw, bh = min(_THUMBNAIL_BLOCK, lw - x), min(_THUMBNAIL_BLOCK, lh - y)
                loc = (int(x * ds), int(y * ds))
                tile = self._call(lambda osr, loc=loc, bw=bw, bh=bh: osr.read_region(loc, level, (bw, bh)),
                                  f"the slide's tiles for a thumbnail (x={loc[0]} y={loc[1]} level={level})")
                block = Image.new("RGB", tile.size, (255, 255, 255))
                block.paste(tile, None, tile)
                x0, y0 = x * tw // lw, y * th // lh
                x1, y1 = max((x + bw) * tw // lw, x0 + 1), max((y + bh) * th // lh, y0 + 1)
                thumb.paste(block.resize((x1 - x0, y1 - y0), Image.Resampling.BOX), (x0, y0))
        return np.asarray(thumb, dtype=np.uint8)

    def associated_images(self) -> dict[str, np.ndarray]:
        """Label, macro, thumbnail... images stored with the slide: name -> ``(h, w, 3)`` uint8 RGB."""
        return self._call(lambda osr: {name: np.asarray(im.convert("RGB"), dtype=np.uint8)
                                       for name, im in osr.associated_images.items()}, "associated images")

    def associated_image_names(self) -> list[str]:
        """Names of the associated images, without decoding them."""
        return sorted(self._osr.associated_images.keys()) if not self._is_image else []

    def best_level_for_downsample(self, downsample: float) -> int:
        """The coarsest level whose downsample is ``<= downsample`` (0 when zoomed in)."""
        return level_for_scale(self.level_downsamples, 1.0 / max(float(downsample), 1e-12))

    def metadata(self) -> dict[str, Any]:
        """What ``evident info`` prints (JSON-serialisable)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "vendor": self.vendor,
            "dimensions": list(self.dimensions),
            "level_count": self.level_count,
            "level_dimensions": [list(d) for d in self.level_dimensions],
            "level_downsamples": list(self.level_downsamples),
            "mpp": self.mpp,
            "objective_power": self.objective_power,
            "associated_images": self.associated_image_names(),
        }

    def close(self) -> None:
        """Release the OpenSlide handle(s); the reader is unusable afterwards.

        New reads are refused at once (``EvidentError``: the slide was closed); reads already in
        flight on other threads (a tile pool) are waited for, since closing an OpenSlide handle
        under a running read aborts the process.
        """
        with self._busy:
            if self._closed:
                return
            self._closed = True
            self._busy.wait_for(lambda: self._inflight == 0)
        with self._lock:
            for h in [*self._retired, self._osr]:
                h.close()
            self._retired.clear()

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SlideReader({str(self.path)!r}, {self.dimensions[0]}x{self.dimensions[1]}, levels={self.level_count})"


def _icc_bytes(osr: Any) -> bytes | None:
    """The raw ICC profile of an OpenSlide/ImageSlide handle (OpenSlide ≥ 4), ``None`` if absent."""
    try:
        profile = osr.color_profile
    except (AttributeError, openslide.OpenSlideError, OSError):
        return None
    return None if profile is None else bytes(profile.tobytes())


def _float(props: dict[str, str], key: str) -> float | None:
    try:
        v = float(props[key])
    except (KeyError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _read_mpp(props: dict[str, str]) -> float | None:
    """µm per level-0 pixel from OpenSlide's properties, else from the TIFF resolution tags."""
    mx, my = _float(props, "openslide.mpp-x"), _float(props, "openslide.mpp-y")
    if mx is None or my is None:
        unit = _UNIT_UM.get(props.get("tiff.ResolutionUnit", "").lower())
        rx, ry = _float(props, "tiff.XResolution"), _float(props, "tiff.YResolution")
        if unit is None or rx is None or ry is None:
            return None
        mx, my = unit / rx, unit / ry
        if not (0.01 <= mx <= 100 and 0.01 <= my <= 100):
            return None
    return round((mx + my) / 2.0, 6)


def _read_objective(props: dict[str, str], mpp: float | None) -> float | None:
    """``openslide.objective-power``, else ``10 / mpp`` snapped to a standard objective."""
    obj = _float(props, "openslide.objective-power")
    if obj is not None:
        return obj
    if mpp is None:
        return None
    raw = 10.0 / mpp
    return min(STANDARD_OBJECTIVES, key=lambda s: abs(math.log(s / raw)))
