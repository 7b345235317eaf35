"""The patch grid of a slide at a target magnification (pure arithmetic plus the tissue filter).

Magnification of level 0: the slide's objective power when it has one, else ``10 / mpp``
(0.25 µm/px -> 40×, 0.5 µm/px -> 20×; the usual convention that a 10× objective gives about
1 µm per pixel), else a value the user gives. A patch of ``patch_size`` pixels at ``target_mag``
covers ``patch_size_level0 = round(patch_size * level0_mag / target_mag)`` level-0 pixels
(TRIDENT's rule). It is read from the coarsest pyramid level whose downsample does not exceed
``patch_size_level0 / patch_size`` by more than 1 % (:func:`read_level`; never upsampled beyond
that) and resized to ``patch_size`` when that level's side differs.

The grid is non-overlapping, starts at (0, 0), steps by ``patch_size_level0`` and keeps only patches
lying wholly inside the slide (CLAM's rule), in row-major order (y, then x). Patches whose tissue
fraction (:func:`core.extract.tissue.patch_tissue_fraction`) is ``>= tissue_threshold`` are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import EvidentError
from core.extract.tissue import TissueMask, patch_tissue_fraction

__all__ = ["PatchGrid", "level0_magnification", "read_level", "grid_coords", "build_grid"]


@dataclass(frozen=True, eq=False)
class PatchGrid:
    """Where the patches of one slide are and how to read them.

    Attributes
    ----------
    coords
        (N, 2) int64 level-0 (x, y) top-left corners of the kept patches, row-major.
    tissue_fraction
        (N,) float32 tissue fraction of each kept patch.
    patch_size_target_px
        Patch side in pixels at the target magnification (what the encoder sees).
    patch_size_level0_px
        Patch side in level-0 pixels (the grid step; what
        :attr:`core.review.patch_grid.PatchLattice.patch_size_level0_px` holds).
    level0_magnification, target_magnification
        Magnifications (×).
    read_level
        Pyramid level the patches are read from.
    read_size
        Patch side in pixels of ``read_level`` (resized to ``patch_size_target_px`` when different).
    level0_width, level0_height
        Slide dimensions.
    n_candidates
        Number of grid positions before the tissue filter.
    """

    coords: np.ndarray
    tissue_fraction: np.ndarray
    patch_size_target_px: int
    patch_size_level0_px: int
    level0_magnification: float
    target_magnification: float
    read_level: int
    read_size: int
    level0_width: int
    level0_height: int
    n_candidates: int

    def attrs(self) -> dict:
        """The TRIDENT patching attributes of this grid (JSON-serialisable)."""
        return {
            "patch_size": int(self.patch_size_target_px),
            "patch_size_level0": int(self.patch_size_level0_px),
            "level0_magnification": float(self.level0_magnification),
            "target_magnification": float(self.target_magnification),
            "overlap": 0,
            "level0_width": int(self.level0_width),
            "level0_height": int(self.level0_height),
        }


def level0_magnification(objective_power: float | None, mpp: float | None, path=None) -> float:
    """Magnification of level 0: objective power, else ``10 / mpp``.

    Raises
    ------
    EvidentError
        When neither is known (naming ``path``).
    """
    if objective_power is not None and objective_power > 0:
        return float(objective_power)
    if mpp is not None and mpp > 0:
        return 10.0 / float(mpp)
    raise EvidentError(path, "the slide records neither objective power nor microns per pixel; "
                             "give its level-0 magnification (--level0-magnification)")


def read_level(level_downsamples, downsample: float, tolerance: float = 0.01) -> int:
    """The coarsest level whose downsample is at most ``downsample * (1 + tolerance)``.

    The tolerance accepts the rounding of real pyramids (a "4×" level of an odd-sized slide has
    downsample 4.002), at the cost of patches up to 1 % larger than asked; 0 when none fits.
    """
    best = 0
    for i, ds in enumerate(level_downsamples):
        if ds <= downsample * (1.0 + tolerance) and ds >= level_downsamples[best]:
            best = i
    return best


def grid_coords(width: int, height: int, patch_size_level0: int) -> np.ndarray:
    """Top-left corners of the non-overlapping patches wholly inside a ``width × height`` slide.

    Returns
    -------
    np.ndarray
        (N, 2) int64 (x, y), row-major (y, then x); N = 0 when the slide is smaller than a patch.
    """
    if patch_size_level0 <= 0:
        raise ValueError(f"patch size must be positive, got {patch_size_level0}")
    xs = np.arange(0, int(width) - patch_size_level0 + 1, patch_size_level0, dtype=np.int64)
    ys = np.arange(0, int(height) - patch_size_level0 + 1, patch_size_level0, dtype=np.int64)
    gx, gy = np.meshgrid(xs, ys)  # (rows, cols) each
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def build_grid(
    reader,
    tissue: TissueMask | None,
    *,
    target_mag: float = 20.0,
    patch_size: int = 256,
    tissue_threshold: float = 0.5,
    level0_mag: float | None = None,
) -> PatchGrid:
    """The patch grid of a slide.

    Parameters
    ----------
    reader
        A :class:`core.slide.reader.SlideReader`.
    tissue
        The slide's tissue mask; ``None`` keeps every grid position (tissue fraction 1).
    target_mag
        Magnification the patches are extracted at (×).
    patch_size
        Patch side in pixels at ``target_mag``.
    tissue_threshold
        Minimum tissue fraction of a kept patch, in [0, 1].
    level0_mag
        Level-0 magnification; ``None`` derives it (:func:`level0_magnification`).

    Raises
    ------
    EvidentError
        Unknown magnification, or a target magnification above the slide's (naming the slide).
    """
    path = getattr(reader, "path", None)
    if patch_size <= 0:
        raise ValueError(f"patch size must be positive, got {patch_size}")
    if not 0.0 <= tissue_threshold <= 1.0:
        raise ValueError(f"tissue threshold must be in [0, 1], got {tissue_threshold}")
    if not target_mag > 0:
        raise ValueError(f"target magnification must be positive, got {target_mag}")
    mag0 = float(level0_mag) if level0_mag is not None else level0_magnification(
        reader.objective_power, reader.mpp, path)
    if target_mag > mag0 * 1.001:
        raise EvidentError(path, f"target magnification {target_mag:g}x is above the slide's "
                                 f"level-0 magnification {mag0:g}x")
    size0 = int(round(patch_size * mag0 / target_mag))
    level = read_level(reader.level_downsamples, size0 / patch_size)
    read_size = max(1, int(round(size0 / reader.level_downsamples[level])))
    width, height = (int(v) for v in reader.dimensions)
    candidates = grid_coords(width, height, size0)
    if tissue is None:
        frac = np.ones(len(candidates), dtype=np.float32)
    else:
        frac = patch_tissue_fraction(tissue, candidates, size0)
    keep = frac >= tissue_threshold
    return PatchGrid(
        coords=candidates[keep],
        tissue_fraction=frac[keep],
        patch_size_target_px=int(patch_size),
        patch_size_level0_px=size0,
        level0_magnification=mag0,
        target_magnification=float(target_mag),
        read_level=level,
        read_size=read_size,
        level0_width=width,
        level0_height=height,
        n_candidates=int(len(candidates)),
    )
