"""OME-TIFF pyramids of real tissue that OpenSlide cannot open, and the same pixels in a form it can.

The source is the real CMU-1 region (Aperio, 0.499 µm/px) read with OpenSlide. Level ``L`` of the
pyramid is the ``2^L`` box mean of level 0 (:func:`core.demo.tiff_writer.downsample2`). The OME-TIFF
holds the reduced levels as SubIFDs of level 0 (the OME/QuPath layout), tiles compressed losslessly
with JPEG 2000 (a codec libtiff, so OpenSlide, does not read), and the pixel size as OME
``PhysicalSizeX/Y`` only. :func:`write_plain_pyramid` writes the same levels as successive deflate
pages with resolution tags, which OpenSlide opens with every level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.demo.tiff_writer import downsample2


def cmu_levels(cmu_slide: Path, n_levels: int = 3) -> tuple[list[np.ndarray], float]:
    """``[(H, W, 3) uint8 level 0, level 1, ...]`` of the real CMU region and its µm/px."""
    import openslide

    with openslide.OpenSlide(cmu_slide) as osr:
        rgb = np.asarray(osr.read_region((0, 0), 0, osr.dimensions).convert("RGB"))
        mpp = float(osr.properties["openslide.mpp-x"])
    levels = [np.ascontiguousarray(rgb)]
    for _ in range(n_levels - 1):
        levels.append(downsample2(levels[-1]))
    return levels, mpp


def write_ome_pyramid(path: Path, levels: list[np.ndarray], mpp: float, compression: str = "jpeg2000") -> Path:
    """A tiled OME-TIFF: level 0 with ``len(levels) − 1`` SubIFDs, µm/px in the OME metadata only."""
    import tifffile

    meta = {"axes": "YXS", "PhysicalSizeX": mpp, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": mpp,
            "PhysicalSizeYUnit": "µm"}
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tw:
        tw.write(levels[0], subifds=len(levels) - 1, tile=(256, 256), photometric="rgb", compression=compression,
                 metadata=meta)
        for lv in levels[1:]:
            tw.write(lv, subfiletype=1, tile=(256, 256), photometric="rgb", compression=compression)
    return path


def write_plain_pyramid(path: Path, levels: list[np.ndarray], mpp: float) -> Path:
    """The same levels as successive deflate-tiled pages with resolution tags (OpenSlide opens it)."""
    import tifffile

    res = (1e4 / mpp, 1e4 / mpp)
    with tifffile.TiffWriter(path, bigtiff=False) as tw:
        for i, lv in enumerate(levels):
            tw.write(lv, tile=(256, 256), photometric="rgb", compression="zlib", subfiletype=1 if i else 0,
                     resolution=res, resolutionunit="CENTIMETER", metadata=None)
    return path


class ArraySlide:
    """The source levels behind the slide-reader interface the viewer tests compare against
    (``level_dimensions``, ``level_downsamples``, ``read_region`` with transparent padding), read
    from the arrays themselves -- no TIFF reader involved."""

    def __init__(self, levels: list[np.ndarray]) -> None:
        self.levels = levels
        self.level_dimensions = tuple((lv.shape[1], lv.shape[0]) for lv in levels)
        w0, h0 = self.level_dimensions[0]
        self.level_downsamples = tuple((w0 / w + h0 / h) / 2 for w, h in self.level_dimensions)

    def read_region(self, location, level, size) -> np.ndarray:
        """(h, w, 4) uint8 RGBA; ``location`` level-0 (x, y) (level origin: nearest level pixel), ``size`` level pixels."""
        d = self.level_downsamples[level]
        return padded(self.levels[level], int(np.floor(location[0] / d + 0.5)), int(np.floor(location[1] / d + 0.5)),
                      int(size[0]), int(size[1]))


def padded(level: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """(h, w, 4) uint8 RGBA window of an (H, W, 3) level at level pixel (x0, y0): transparent black outside."""
    out = np.zeros((h, w, 4), np.uint8)
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, level.shape[1]), min(y0 + h, level.shape[0])
    if ax1 > ax0 and ay1 > ay0:
        out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, :3] = level[ay0:ay1, ax0:ax1]
        out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, 3] = 255
    return out
