"""Sort the 256-px patches of a real H&E region into epidermis, dermis/stroma and background.

The demo cohort is assembled from the real CMU-1 skin region (Aperio, 20×, 0.499 µm/px). Looking at
it shows three kinds of tissue a 256-px patch (128 µm) can fall on: the **epidermis** (stratified
squamous epithelium: densely packed keratinocyte nuclei, purple), the **dermis/stroma** (pink
collagen bundles with few, scattered nuclei) and **background** (glass). Patches are classified by
colour deconvolution (Ruifrok & Johnston H&E stain vectors,
:func:`core.extract.encoders.stain.stain_densities`, haematoxylin density H ≥ 0) with these rules:

* tissue pixel: optical density summed over R, G, B ≥ ``TISSUE_OD`` (0.2); ``tissue`` = fraction of
  tissue pixels in the patch;
* ``h`` = mean H density (log10 optical-density units) over the tissue pixels of the patch: how
  much nuclear stain the tissue holds; ``h_min`` / ``h_max`` = the least / greatest of the same
  over the 64-px cells of the patch that hold at least 25 % tissue (so a patch whose one corner
  holds another tissue is not a clear example);
* **background**: ``tissue < 0.10``;
* **epidermis**: ``tissue ≥ 0.85``, ``h ≥ 0.40`` and ``h_min ≥ 0.25`` (keratinocyte sheets
  throughout; keratin flakes are cut out by the tissue rule because they leave glass between them);
* **dermis**: ``tissue ≥ 0.75``, ``h ≤ 0.19`` and ``h_max ≤ 0.28`` (collagen throughout);
* everything else (edges of the epidermis, mixed patches, sparse tissue) is **unused**, so every
  placed patch is a clear example of its class.

The thresholds were set by looking at every candidate patch sorted by ``h`` (see ``docs/demo.md``).
Candidates are all 256-px windows on a stride of 64 px, so neighbouring candidates overlap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import EvidentError

__all__ = [
    "BACKGROUND",
    "CLASSES",
    "DERMIS",
    "EPIDERMIS",
    "TISSUE_OD",
    "UNUSED",
    "PatchCatalog",
    "catalog_from_image",
    "catalog_from_slide",
    "classify_windows",
]

CLASSES: tuple[str, ...] = ("background", "dermis", "epidermis", "unused")
BACKGROUND, DERMIS, EPIDERMIS, UNUSED = 0, 1, 2, 3
TISSUE_OD = 0.2
_BACKGROUND_MAX_TISSUE = 0.10
_EPIDERMIS_MIN_TISSUE, _EPIDERMIS_MIN_H, _EPIDERMIS_MIN_QUADRANT_H = 0.85, 0.40, 0.25
_DERMIS_MIN_TISSUE, _DERMIS_MAX_H, _DERMIS_MAX_QUADRANT_H = 0.75, 0.19, 0.28


@dataclass(frozen=True, eq=False)
class PatchCatalog:
    """The classified candidate patches of one real region.

    Attributes
    ----------
    image
        (H, W, 3) uint8 RGB of the region (level 0).
    coords
        (K, 2) int64 (x, y) top-left corners of the candidate windows in ``image``.
    classes
        (K,) int8 class code (index into :data:`CLASSES`).
    tissue
        (K,) float32 tissue fraction.
    h
        (K,) float32 mean haematoxylin density over tissue pixels (0 when no tissue).
    h_min, h_max
        (K,) float32 least and greatest of ``h`` over the cells of the window (0 when none has tissue).
    patch_size
        Window side in pixels.
    """

    image: np.ndarray
    coords: np.ndarray
    classes: np.ndarray
    tissue: np.ndarray
    h: np.ndarray
    h_min: np.ndarray
    h_max: np.ndarray
    patch_size: int

    def indices(self, code: int) -> np.ndarray:
        """(k,) int64 indices of the candidates of class ``code``."""
        return np.flatnonzero(self.classes == code).astype(np.int64)

    def patch(self, i: int) -> np.ndarray:
        """(patch_size, patch_size, 3) uint8 view of candidate ``i``."""
        x, y = (int(v) for v in self.coords[i])
        return self.image[y:y + self.patch_size, x:x + self.patch_size]


def classify_windows(tissue: np.ndarray, h: np.ndarray, h_min: np.ndarray, h_max: np.ndarray) -> np.ndarray:
    """Apply the class rules of the module docstring.

    Parameters
    ----------
    tissue, h, h_min, h_max
        (K,) float tissue fraction, mean haematoxylin density over tissue pixels, and its least and
        greatest value over the cells.

    Returns
    -------
    np.ndarray
        (K,) int8 class codes.
    """
    out = np.full(tissue.shape, UNUSED, dtype=np.int8)
    out[tissue < _BACKGROUND_MAX_TISSUE] = BACKGROUND
    out[(tissue >= _DERMIS_MIN_TISSUE) & (h <= _DERMIS_MAX_H) & (h_max <= _DERMIS_MAX_QUADRANT_H)] = DERMIS
    out[(tissue >= _EPIDERMIS_MIN_TISSUE) & (h >= _EPIDERMIS_MIN_H)
        & (h_min >= _EPIDERMIS_MIN_QUADRANT_H)] = EPIDERMIS
    return out


def _window_sums(values: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Sum of ``values`` (H, W) float64 over every ``size`` window on a ``stride`` grid -> (rows, cols)."""
    ii = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.float64)
    ii[1:, 1:] = values.cumsum(0).cumsum(1)
    ys = np.arange(0, values.shape[0] - size + 1, stride)
    xs = np.arange(0, values.shape[1] - size + 1, stride)
    y0, x0 = ys[:, None], xs[None, :]
    return ii[y0 + size, x0 + size] - ii[y0, x0 + size] - ii[y0 + size, x0] + ii[y0, x0]


def catalog_from_image(image: np.ndarray, patch_size: int = 256, stride: int = 64) -> PatchCatalog:
    """Classify every ``patch_size`` window on a ``stride`` grid of ``image`` (H, W, 3) uint8.

    ``patch_size`` must be a multiple of ``stride``; the cells of a window are the ``stride``-px
    squares of the grid it covers.
    """
    from core.extract.encoders.stain import stain_densities  # local: pulls in scipy

    hh, ww = image.shape[:2]
    if hh < patch_size or ww < patch_size:
        raise ValueError(f"image {ww} x {hh} is smaller than one {patch_size}-px patch")
    if patch_size % stride:
        raise ValueError(f"patch size {patch_size} must be a multiple of the stride {stride}")
    hed, od = stain_densities(image.reshape(1, -1, 3))  # (1, H*W, 3) float32 each
    is_tissue = (od[0].sum(-1) >= TISSUE_OD).reshape(hh, ww).astype(np.float64)  # (H, W)
    hden = np.where(is_tissue > 0, hed[0, :, 0].reshape(hh, ww), 0.0).astype(np.float64)  # (H, W)
    n_tissue = _window_sums(is_tissue, patch_size, stride)  # (rows, cols)
    h_sum = _window_sums(hden, patch_size, stride)  # (rows, cols)
    rows, cols = n_tissue.shape
    c_n = _window_sums(is_tissue, stride, stride)  # (rows + k - 1, cols + k - 1), k = patch / stride
    c_h = np.where(c_n >= 0.25 * stride**2, _window_sums(hden, stride, stride) / np.maximum(c_n, 1.0), np.nan)
    k = patch_size // stride
    cells = np.stack([c_h[dy:dy + rows, dx:dx + cols] for dy in range(k) for dx in range(k)])  # (k*k, rows, cols)
    valid = ~np.isnan(cells)
    h_min = np.where(valid, cells, np.inf).min(0)  # (rows, cols); inf where no cell has tissue
    h_max = np.where(valid, cells, -np.inf).max(0)
    h_min, h_max = (np.where(valid.any(0), v, 0.0) for v in (h_min, h_max))
    ys, xs = np.meshgrid(np.arange(rows) * stride, np.arange(cols) * stride, indexing="ij")
    coords = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.int64)  # (K, 2)
    tissue = (n_tissue / patch_size**2).ravel().astype(np.float32)
    h = (h_sum / np.maximum(n_tissue, 1.0)).ravel().astype(np.float32)
    h_min, h_max = (v.ravel().astype(np.float32) for v in (h_min, h_max))
    return PatchCatalog(image=image, coords=coords, classes=classify_windows(tissue, h, h_min, h_max),
                        tissue=tissue, h=h, h_min=h_min, h_max=h_max, patch_size=int(patch_size))


def catalog_from_slide(path: str | os.PathLike, patch_size: int = 256, stride: int = 64) -> PatchCatalog:
    """Read level 0 of a (small) real slide and classify its windows.

    Raises
    ------
    EvidentError
        When the slide cannot be read, or lacks patches of a class the cohort needs.
    """
    from core.slide.reader import open_slide  # local: pulls in openslide

    with open_slide(path) as r:
        rgba = r.read_region((0, 0), 0, r.dimensions)  # (H, W, 4) uint8
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = np.clip(np.rint(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)), 0, 255).astype(np.uint8)
    cat = catalog_from_image(rgb, patch_size, stride)
    for code in (BACKGROUND, DERMIS, EPIDERMIS):
        if not (cat.classes == code).any():
            raise EvidentError(Path(path), f"no {CLASSES[code]} patch found to build the demo cohort from")
    return cat
