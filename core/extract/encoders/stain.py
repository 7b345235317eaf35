"""Colour features of H&E patches: stain densities by colour deconvolution, RGB and HSV statistics.

Colour deconvolution (Ruifrok & Johnston, Anal. Quant. Cytol. Histol. 2001): the optical density of
a pixel, ``OD_c = -log10((I_c + 1) / 256)`` for channels c = R, G, B, is modelled as a mix of the
unit-length stain vectors of haematoxylin (0.65, 0.70, 0.29), eosin (0.07, 0.99, 0.11) and DAB
(0.27, 0.57, 0.78) (the matrix skimage's ``rgb2hed`` uses); the stain densities are
``OD @ inv(M)``, negative values clipped to 0. In H&E the third ("DAB") channel is the residual
neither stain explains (pen ink, pigment, dust, out-of-focus blur).

All functions are vectorised over the batch; every statistic is computed per patch.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RUIFROK_HED",
    "stain_densities",
    "batch_histogram",
    "histogram_quantiles",
    "uint8_histogram",
    "channel_max_min",
    "hue_saturation_value",
]

RUIFROK_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=np.float64)
_M = RUIFROK_HED / np.linalg.norm(RUIFROK_HED, axis=1, keepdims=True)
_HED_FROM_OD = np.linalg.inv(_M).astype(np.float32)  # (3, 3): OD row vector @ this = (H, E, DAB)
_OD_LUT = (-np.log10((np.arange(256, dtype=np.float64) + 1.0) / 256.0)).astype(np.float32)  # (256,)


def optical_density(rgb: np.ndarray) -> np.ndarray:
    """Optical density ``-log10((I + 1) / 256)``.

    Parameters
    ----------
    rgb
        (..., 3) uint8.

    Returns
    -------
    np.ndarray
        (..., 3) float32, in [0, 2.41]; 0 for white.
    """
    return _OD_LUT[rgb]


def stain_densities(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Haematoxylin, eosin and residual densities of each pixel.

    Parameters
    ----------
    rgb
        (B, P, 3) uint8, P pixels per patch.

    Returns
    -------
    hed : np.ndarray
        (B, P, 3) float32 densities (H, E, residual), >= 0.
    od : np.ndarray
        (B, P, 3) float32 optical densities of R, G, B.
    """
    od = optical_density(rgb)
    hed = od @ _HED_FROM_OD
    np.maximum(hed, 0.0, out=hed)
    return hed, od


def batch_histogram(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Per-row histogram with equal bins on ``[lo, hi)``; values outside go to the end bins.

    Parameters
    ----------
    values
        (B, P) float.

    Returns
    -------
    np.ndarray
        (B, bins) float64 fractions (each row sums to 1).
    """
    b, p = values.shape
    idx = np.clip(((values - lo) * (bins / (hi - lo))).astype(np.int64), 0, bins - 1)  # (B, P)
    idx += (np.arange(b, dtype=np.int64) * bins)[:, None]
    counts = np.bincount(idx.ravel(), minlength=b * bins).reshape(b, bins)
    return counts / max(p, 1)


def histogram_quantiles(hist: np.ndarray, qs: tuple[float, ...], lo: float, hi: float) -> np.ndarray:
    """Quantiles read off per-row histograms (the centre of the bin where the CDF reaches q).

    Parameters
    ----------
    hist
        (B, bins) fractions, e.g. from :func:`batch_histogram`.
    qs
        Quantiles in [0, 1].

    Returns
    -------
    np.ndarray
        (B, len(qs)) float64.
    """
    bins = hist.shape[1]
    cdf = np.cumsum(hist, axis=1)  # (B, bins)
    width = (hi - lo) / bins
    out = np.empty((hist.shape[0], len(qs)))
    for j, q in enumerate(qs):
        k = np.argmax(cdf >= q - 1e-9, axis=1)  # first bin reaching q
        out[:, j] = lo + (k + 0.5) * width
    return out


def uint8_histogram(values: np.ndarray) -> np.ndarray:
    """Per-row histogram of uint8 values.

    Parameters
    ----------
    values
        (B, P) uint8.

    Returns
    -------
    np.ndarray
        (B, 256) float64 fractions.
    """
    b, p = values.shape
    idx = values.astype(np.int64) + (np.arange(b, dtype=np.int64) * 256)[:, None]
    return np.bincount(idx.ravel(), minlength=b * 256).reshape(b, 256) / max(p, 1)


_SAT_LUT = np.zeros((256, 256), dtype=np.float32)  # [max, max - min] -> HSV saturation
_SAT_LUT[1:] = np.arange(256, dtype=np.float32)[None, :] / np.arange(1, 256, dtype=np.float32)[:, None]


def channel_max_min(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest of R, G, B: (..., 3) -> two (...) arrays of the same dtype.

    (Element-wise over the channel slices: numpy reduces a length-3 last axis slowly.)
    """
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


def hue_saturation_value(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hue direction, HSV saturation and HSV value of RGB pixels.

    The hue is taken as the direction of the pixel in the chroma plane,
    ``α = R - (G + B) / 2``, ``β = (√3 / 2) (G - B)`` (the circular hue of the IHLS colour space,
    close to HSV's hexagonal hue); it is returned as its cosine and sine (0, 0 for grey pixels), so
    that means over a patch respect the circle.

    Parameters
    ----------
    rgb
        (..., 3) uint8.

    Returns
    -------
    hue_cos, hue_sin : np.ndarray
        (...) float32 in [-1, 1].
    sat : np.ndarray
        (...) float32 HSV saturation ``(max - min) / max`` in [0, 1] (0 for black).
    val : np.ndarray
        (...) float32 HSV value ``max / 255`` in [0, 1].
    """
    mx, mn = channel_max_min(rgb)  # (...) uint8 each
    sat = _SAT_LUT[mx, mx - mn]
    val = mx.astype(np.float32) / np.float32(255.0)
    r, g, b = (rgb[..., c].astype(np.int32) for c in range(3))
    idx = (2 * r - g - b + 510) * 511 + (g - b + 255)  # (2α, β / (√3/2)) as one table index
    return _HUE_COS[idx], _HUE_SIN[idx], sat, val


def _hue_tables() -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the chroma-plane hue for every (2R - G - B, G - B): two (1021 * 511,) float32."""
    a2 = np.arange(-510, 511, dtype=np.float64)[:, None]  # 2α
    bd = np.arange(-255, 256, dtype=np.float64)[None, :]  # G - B
    norm = np.sqrt(a2 * a2 + 3.0 * bd * bd)  # 2 |(α, β)|
    safe = np.where(norm > 0, norm, 1.0)
    cos = np.where(norm > 0, a2 / safe, 0.0)
    sin = np.where(norm > 0, np.sqrt(3.0) * bd / safe, 0.0)
    return cos.astype(np.float32).ravel(), sin.astype(np.float32).ravel()


_HUE_COS, _HUE_SIN = _hue_tables()
