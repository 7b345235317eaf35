"""Stain normalisation of H&E tiles: Macenko and Reinhard, fitted once per slide (docs/colour.md).

The fits come from **torchstain** (EIDOSLAB, numpy backend; the Macenko code follows the reference
implementation of Macenko et al. 2009 through HEnorm_python, the Reinhard code HistomicsTK/StainTools):
``NumpyMacenkoNormalizer.fit`` gives a stain matrix and the 99th-percentile concentrations,
``NumpyReinhardNormalizer.fit`` the LAB means and standard deviations. torchstain's own
``normalize`` re-fits the *source* on every image it is given, which makes neighbouring tiles of one
slide disagree (a tile with little tissue gets a different stain matrix from its neighbour); a viewer
and a feature extractor need one transform per slide. So the source is fitted once, on tissue pixels
sampled from the whole slide at a low level (:func:`tissue_pixels`), and :class:`StainNormaliser`
applies the fixed transform to each tile:

* Macenko: optical density ``OD = −log((I + 1) / Io)``; concentrations ``C = pinv(HE_src) · OD``;
  ``C' = C · maxC_ref / maxC_src``; ``I' = Io · exp(−HE_ref · C')``. On an image fitted against
  itself this is exactly torchstain's ``normalize`` (tests/core/test_stain.py).
* Reinhard: per LAB channel ``(x − μ_src) / σ_src · σ_ref + μ_ref`` with torchstain's sRGB ↔ LAB.

Arrays are ``(..., 3)`` RGB or ``(..., 4)`` RGBA uint8; alpha passes through untouched, and pixels
with alpha 0 (outside the slide) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np

from core.errors import EvidentError

__all__ = ["LabStats", "MacenkoStains", "reference_macenko", "StainMethod", "StainNormaliser", "fit_normaliser", "fit_stain",
           "read_target_image", "stained_pixels", "tissue_pixels"]

StainMethod = Literal["macenko", "reinhard"]
STAIN_METHODS: tuple[str, ...] = get_args(StainMethod)

IO = 240          # transmitted light intensity (torchstain's default)
ALPHA = 1.0       # percentile of the angle extremes, per cent
BETA = 0.15       # optical-density threshold below which a pixel counts as background


class MacenkoStains(NamedTuple):
    """A Macenko fit: ``he`` (3, 2) optical-density stain vectors (columns haematoxylin, eosin) and
    ``max_c`` (2,) the 99th-percentile stain concentrations."""

    he: np.ndarray
    max_c: np.ndarray


class LabStats(NamedTuple):
    """A Reinhard fit: per-channel mean and standard deviation of L (0-100), a and b, each (3,)."""

    mean: np.ndarray
    std: np.ndarray


def _rgb3(pixels: np.ndarray) -> np.ndarray:
    """``(n, 3)`` uint8 of any ``(..., 3|4)`` uint8 array (alpha dropped)."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] not in (3, 4):
        raise ValueError(f"expected (..., 3|4) uint8 pixels, got {a.dtype} {a.shape}")
    return a.reshape(-1, a.shape[-1])[:, :3]


def fit_stain(method: StainMethod, pixels: np.ndarray) -> MacenkoStains | LabStats:
    """Fit ``method`` on ``pixels`` (``(..., 3|4)`` uint8; tissue pixels for a slide).

    Raises :class:`ValueError` when the pixels hold too little stain to fit (e.g. a white image).
    """
    rgb = _rgb3(pixels)
    if method == "macenko":
        from torchstain.numpy.normalizers import NumpyMacenkoNormalizer

        od = -np.log((rgb.astype(np.float64) + 1) / IO)
        if int((~np.any(od < BETA, axis=1)).sum()) < 16:
            raise ValueError("too few stained pixels to fit Macenko stain vectors")
        fit = NumpyMacenkoNormalizer()
        fit.fit(rgb.reshape(-1, 1, 3), Io=IO, alpha=ALPHA, beta=BETA)
        he, max_c = np.asarray(fit.HERef, np.float64), np.asarray(fit.maxCRef, np.float64)
        if not (np.all(np.isfinite(he)) and np.all(np.isfinite(max_c)) and np.all(max_c > 0)):
            raise ValueError("the Macenko fit is degenerate (no stain contrast)")
        return MacenkoStains(he, max_c)
    if method == "reinhard":
        from torchstain.numpy.normalizers import NumpyReinhardNormalizer

        fit = NumpyReinhardNormalizer()
        fit.fit(rgb.reshape(-1, 1, 3))
        mean, std = np.asarray(fit.target_means, np.float64), np.asarray(fit.target_stds, np.float64)
        if not np.all(std > 1e-6):
            raise ValueError("the Reinhard fit is degenerate (a channel has no spread)")
        return LabStats(mean, std)
    raise ValueError(f"unknown stain method {method!r}; choose one of {', '.join(STAIN_METHODS)}")


@dataclass(frozen=True, eq=False)
class StainNormaliser:
    """A fixed per-slide stain transform: ``normaliser(tile)`` → normalised tile, same shape and dtype.

    ``source`` is the slide's fit and ``target`` the reference image's, both of ``method``.
    """

    method: StainMethod
    source: MacenkoStains | LabStats
    target: MacenkoStains | LabStats

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        a = np.asarray(pixels)
        if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] not in (3, 4):
            raise ValueError(f"expected (..., 3|4) uint8 pixels, got {a.dtype} {a.shape}")
        rgb = a[..., :3]
        out = self._macenko(rgb) if self.method == "macenko" else self._reinhard(rgb)
        result = a.copy()
        if a.shape[-1] == 4:
            np.copyto(result[..., :3], out, where=a[..., 3:4] > 0)  # outside the slide: left alone
        else:
            result[...] = out
        return result

    def _macenko(self, rgb: np.ndarray) -> np.ndarray:
        """``I' = Io·exp(−OD·A)`` with ``A = pinv(HE_src)ᵀ·diag(maxC_ref / maxC_src)·HE_refᵀ`` (3 × 3):
        the three steps of the module docstring in one matrix, on a per-channel OD lookup table."""
        src, ref = self.source, self.target
        a = ((np.linalg.pinv(src.he).T * (ref.max_c / src.max_c)[None, :]) @ ref.he.T).astype(np.float32)
        od = _OD_LUT[rgb]                                               # (..., 3) float32
        out = np.exp(-(od @ a))
        out *= IO
        np.clip(out, 0, 255, out=out)
        out += 0.5
        return out.astype(np.uint8)

    def _reinhard(self, rgb: np.ndarray) -> np.ndarray:
        """torchstain's sRGB ↔ LAB (same constants) in float32, with lookup tables for the sRGB curves."""
        src, ref = self.source, self.target
        xyz = _SRGB_TO_LINEAR[rgb] @ (_RGB2XYZ.T / _WHITE[None, :])   # (..., 3), white-normalised
        f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0).astype(np.float32)
        lab = np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                        200.0 * (f[..., 1] - f[..., 2])], axis=-1)   # L 0-100, a, b
        gain = (ref.std / src.std).astype(np.float32)
        lab = (lab - src.mean.astype(np.float32)) * gain + ref.mean.astype(np.float32)
        y = (lab[..., 0] + 16.0) / 116.0
        g = np.stack([lab[..., 1] / 500.0 + y, y, y - lab[..., 2] / 200.0], axis=-1)
        xyz = np.where(g > 0.2068966, g ** 3, (g - 16.0 / 116.0) / 7.787) * _WHITE
        lin = xyz.astype(np.float32) @ _XYZ2RGB.T
        np.clip(lin, 0.0, 1.0, out=lin)
        return _LINEAR_TO_SRGB8[(lin * (_LIN_STEPS - 1) + 0.5).astype(np.int32)]


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


_OD_LUT = (-np.log((np.arange(256, dtype=np.float64) + 1) / IO)).astype(np.float32)
_SRGB_TO_LINEAR = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255).astype(np.float32)
_RGB2XYZ = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]], dtype=np.float32)  # torchstain's (and OpenCV's) matrix
_XYZ2RGB = np.linalg.inv(_RGB2XYZ.astype(np.float64)).astype(np.float32)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
_LIN_STEPS = 1 << 16
_lin = np.linspace(0.0, 1.0, _LIN_STEPS)
_LINEAR_TO_SRGB8 = np.clip(np.rint(255 * np.where(_lin > 0.0031308, 1.055 * _lin ** (1 / 2.4) - 0.055, 12.92 * _lin)),
                           0, 255).astype(np.uint8)
del _lin


def reference_macenko() -> MacenkoStains:
    """The standard Macenko reference stain (the stain vectors and maximal concentrations published
    with the reference implementation, torchstain's defaults): the target when none is given."""
    from torchstain.numpy.normalizers import NumpyMacenkoNormalizer

    ref = NumpyMacenkoNormalizer()
    return MacenkoStains(np.asarray(ref.HERef, np.float64), np.asarray(ref.maxCRef, np.float64))


def fit_normaliser(method: StainMethod, source_pixels: np.ndarray, target_pixels: np.ndarray) -> StainNormaliser:
    """A :class:`StainNormaliser` mapping the stain of ``source_pixels`` onto ``target_pixels``."""
    return StainNormaliser(method, fit_stain(method, source_pixels), fit_stain(method, target_pixels))


def stained_pixels(pixels: np.ndarray) -> np.ndarray:
    """The stained pixels ``(n, 3)`` uint8 of ``(..., 3|4)`` uint8 ``pixels``: optical density ≥
    :data:`BETA` in every channel (Macenko's own criterion; drops white glass and, for RGBA,
    transparent pixels). Slide and target are both fitted on these, so that Reinhard's LAB
    statistics compare tissue with tissue, not with the share of background."""
    a = np.asarray(pixels)
    flat = a.reshape(-1, a.shape[-1])
    rgb = flat[:, :3]
    keep = np.all(-np.log((rgb.astype(np.float64) + 1) / IO) >= BETA, axis=1)
    if flat.shape[1] == 4:
        keep &= flat[:, 3] > 0
    return np.ascontiguousarray(rgb[keep])


def tissue_pixels(reader, *, max_side: int = 2048, max_pixels: int = 200_000, seed: int = 0) -> np.ndarray:
    """Up to ``max_pixels`` tissue pixels ``(n, 3)`` uint8 of a whole slide, from its thumbnail.

    ``reader`` is a :class:`core.slide.reader.SlideReader` (anything with ``get_thumbnail``).
    Tissue = :func:`stained_pixels`. The sample is a fixed random
    subset (``seed``) so a slide always gets the same fit.
    """
    pix = stained_pixels(np.asarray(reader.get_thumbnail((max_side, max_side))))
    if len(pix) > max_pixels:
        pix = pix[np.random.default_rng(seed).choice(len(pix), max_pixels, replace=False)]
    return np.ascontiguousarray(pix)


def read_target_image(path: str | Path) -> np.ndarray:
    """The reference image of a stain target as ``(h, w, 3)`` uint8; one clear error naming the file."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise EvidentError(p, "stain target image not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise EvidentError(p, f"not an image Pillow can read ({exc})") from None
