"""A − B difference map of two patch-score maps, after a stated normalisation.

Raw scores of different methods live on different scales (attention sums to 1, IG is signed, a
gate lies in [0, 1]), so each map is first normalised to [0, 1] with the same mode of
:func:`core.review.normalise.normalise` (default ``"rank"``: the percentile rank, CLAM style,
which compares orderings and ignores scale) and then subtracted: ``d = n(A) − n(B)`` in [-1, 1].
Positive means "A ranks this patch higher than B". The result is a signed layer drawn with the
diverging ``RdBu_r`` colormap over the fixed range [-1, 1] (0 = white).
"""

from __future__ import annotations

import numpy as np

from core.review.layers import Layer, LayerSettings, ScalarLayer
from core.review.normalise import normalise

__all__ = ["DIFF_NORMS", "difference", "difference_layer"]

DIFF_NORMS = ("rank", "minmax", "percentile")


def difference(a: np.ndarray, b: np.ndarray, norm: str = "rank") -> np.ndarray:
    """``normalise(a) − normalise(b)``.

    Parameters
    ----------
    a, b
        (N,) float raw scores of the same patches (NaN allowed: NaN in the output).
    norm
        One of :data:`DIFF_NORMS`.

    Returns
    -------
    np.ndarray
        (N,) float64 in [-1, 1].
    """
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"maps of different lengths ({x.size} and {y.size} patches)")
    if norm not in DIFF_NORMS:
        raise ValueError(f"unknown normalisation {norm!r} (known: {', '.join(DIFF_NORMS)})")
    return normalise(x, norm) - normalise(y, norm)


def difference_layer(a: Layer, b: Layer, norm: str = "rank") -> ScalarLayer:
    """The A − B layer of two scalar layers, named ``"A − B"``, diverging colormap over [-1, 1]."""
    if not (isinstance(a, ScalarLayer) and isinstance(b, ScalarLayer)):
        raise ValueError("a difference needs two scalar maps")
    d = difference(a.values, b.values, norm)
    d.setflags(write=False)
    words = {"rank": "percentile rank", "minmax": "min–max", "percentile": "1–99 percentile clip"}[norm]
    return ScalarLayer(name=f"{a.name} − {b.name}", values=d, units=f"Δ {words} (A − B)",
                       source=f"difference of {a.name!r} and {b.name!r}",
                       settings=LayerSettings(colormap="RdBu_r", norm="manual", vmin=-1.0, vmax=1.0, opacity=0.6))
