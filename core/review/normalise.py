"""Map raw per-patch scores to [0, 1] and then to colours (256-entry RGBA lookup tables).

Normalisation modes (the choice is shown in words on the colorbar, see :func:`describe`):

* ``"minmax"``: ``(v - min) / (max - min)``;
* ``"manual"``: ``(v - vmin) / (vmax - vmin)`` clipped to [0, 1];
* ``"percentile"``: like ``manual`` with ``vmin, vmax`` the ``lo_pct`` / ``hi_pct`` percentiles;
* ``"rank"``: CLAM style, the percentile rank of each score, ``(rank - 1) / (N - 1)`` with ties
  sharing their mean rank (uniform colours whatever the score distribution);
* ``"centered"``: for signed maps, ``0.5 + v / (2 max|v|)`` so that 0 is the centre of a
  diverging colormap.

Non-finite scores stay NaN and are drawn transparent.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

from core.choices import check_choice, choices

__all__ = ["NORM_MODES", "NormMode", "COLORMAPS", "DIVERGING", "normalise", "colormap_lut", "colorize", "is_signed",
           "rank_percentile", "describe"]

#: How a layer's scores map to [0, 1] (module docstring).
NormMode = Literal["percentile", "rank", "minmax", "manual", "centered"]
NORM_MODES: tuple[NormMode, ...] = choices(NormMode)
COLORMAPS = ("viridis", "magma", "turbo", "RdBu_r")
DIVERGING = ("RdBu_r",)


def normalise(values: np.ndarray, mode: NormMode = "percentile", *, vmin: float | None = None,
              vmax: float | None = None, lo_pct: float = 1.0, hi_pct: float = 99.0) -> np.ndarray:
    """Normalise scores to [0, 1].

    Parameters
    ----------
    values
        (N,) float raw scores; NaN/inf allowed (ignored by the statistics, NaN in the output).
    mode
        One of :data:`NORM_MODES`.
    vmin, vmax
        The range for ``"manual"`` (both required).
    lo_pct, hi_pct
        Percentiles for ``"percentile"``.

    Returns
    -------
    np.ndarray
        (N,) float64 in [0, 1], NaN where the input was not finite.
    """
    check_choice(mode, NormMode, "normalisation")  # before the all-NaN shortcut: a typo is never silent
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v)
    if not ok.any():
        return out
    x = v[ok]
    if mode == "minmax":
        lo, hi = float(x.min()), float(x.max())
    elif mode == "manual":
        if vmin is None or vmax is None:
            raise ValueError("manual normalisation needs vmin and vmax")
        lo, hi = float(vmin), float(vmax)
    elif mode == "percentile":
        if not 0.0 <= lo_pct < hi_pct <= 100.0:
            raise ValueError("percentiles must satisfy 0 <= lo < hi <= 100")
        lo, hi = (float(p) for p in np.percentile(x, [lo_pct, hi_pct]))
    elif mode == "rank":
        out[ok] = rank_percentile(x)[1] / 100.0 if x.size > 1 else 0.5
        return out
    elif mode == "centered":
        m = float(np.abs(x).max())
        out[ok] = 0.5 if m == 0 else 0.5 + x / (2.0 * m)
        return out
    else:  # pragma: no cover - check_choice refused it above
        raise AssertionError(mode)
    out[ok] = 0.5 if hi <= lo else np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return out


def rank_percentile(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = highest score) and percentile rank of each score.

    Parameters
    ----------
    values
        (N,) float finite scores.

    Returns
    -------
    rank, percentile
        (N,) int64 ranks from 1 (the highest; ties share the lowest rank of their group) and
        (N,) float64 percentile ranks in [0, 100]: ``100 * (mean ascending rank - 1) / (N - 1)``.
    """
    from scipy.stats import rankdata  # local: scipy only when used

    x = np.asarray(values, dtype=np.float64).reshape(-1)
    n = x.size
    rank = rankdata(-x, method="min").astype(np.int64)
    if n < 2:
        return rank, np.full(n, 100.0)
    pct = 100.0 * (rankdata(x, method="average") - 1.0) / (n - 1.0)
    return rank, pct


def is_signed(values: np.ndarray) -> bool:
    """Whether a map has both clearly negative and clearly positive scores (IG, LRP, deltas).

    True when the negative part's magnitude is at least 1% of the largest magnitude.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return False
    m = float(np.abs(x).max())
    return m > 0 and float(x.min()) < -0.01 * m and float(x.max()) > 0


@lru_cache(maxsize=16)
def colormap_lut(name: str) -> np.ndarray:
    """A 256-entry RGBA lookup table, (256, 4) uint8, of a matplotlib colormap (read-only)."""
    import matplotlib  # local: matplotlib only when used

    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r} (known: {', '.join(COLORMAPS)})")
    lut = (matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256)) * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colorize(norm: np.ndarray, cmap: str, opacity: float = 0.5, threshold: float = 0.0) -> np.ndarray:
    """Colour normalised scores.

    Parameters
    ----------
    norm
        (N,) float in [0, 1] or NaN, from :func:`normalise`.
    cmap
        Colormap name; for a diverging map the threshold applies to the distance from the centre.
    opacity
        Alpha of drawn patches, in [0, 1].
    threshold
        Hide (alpha 0) patches whose normalised value is below it (diverging: ``|2n - 1|``).

    Returns
    -------
    np.ndarray
        (N, 4) uint8 RGBA.
    """
    n = np.asarray(norm, dtype=np.float64)
    ok = np.isfinite(n)
    idx = np.clip(np.round(np.where(ok, n, 0.0) * 255.0), 0, 255).astype(np.intp)
    rgba = colormap_lut(cmap)[idx].copy()
    strength = np.abs(2.0 * n - 1.0) if cmap in DIVERGING else n
    visible = ok & (np.where(ok, strength, 0.0) >= threshold)
    rgba[:, 3] = np.where(visible, np.uint8(round(255 * float(np.clip(opacity, 0.0, 1.0)))), 0)
    return rgba


def describe(mode: NormMode, *, vmin: float | None = None, vmax: float | None = None, lo_pct: float = 1.0,
             hi_pct: float = 99.0) -> str:
    """The normalisation in words, for the colorbar."""
    if mode == "percentile":
        return f"clipped to percentiles {lo_pct:g}–{hi_pct:g}"
    if mode == "rank":
        return "percentile rank (CLAM style)"
    if mode == "minmax":
        return "min–max"
    if mode == "manual":
        return f"manual range {vmin:.3g} to {vmax:.3g}"
    if mode == "centered":
        return "centred at 0 (±max |score|)"
    raise ValueError(f"unknown normalisation {mode!r}")
