"""From a scalar layer's scores to its colours, one cached step at a time (display only, Qt-free).

Drawing a map is ``smooth -> normalise -> colour -> threshold/clip`` (:func:`core.review.smoothing.
smooth_scores`, :func:`core.review.normalise.normalise`, :func:`core.review.normalise.colorize`,
:func:`core.review.tissue.clip_alpha`). Slider drags change only the last step, so
:class:`LayerRenderCache` keeps, per layer name, the smoothed scores (keyed on the scores array, the
grid and ``smooth_sigma``), the normalised scores (plus the normalisation settings) and the colours
(plus the colormap). An opacity change then costs nothing here (the view sets the item's opacity),
a threshold change one comparison and one alpha write. ``LayerRenderCache(enabled=False)``
recomputes every step on every call (the pre-cache behaviour, kept as the benchmark's baseline:
``evident bench viewer``). See docs/viewer_layout.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.review.layers import Layer
from core.review.normalise import DIVERGING, colormap_lut, normalise
from core.review.patch_grid import PatchLattice
from core.review.smoothing import smooth_scores
from core.review.tissue import clip_alpha

__all__ = ["LayerRenderCache", "colorbar_ends"]


@dataclass
class _Entry:
    key: tuple
    value: Any


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y or (not isinstance(x, (np.ndarray, PatchLattice)) and x == y)
                                    for x, y in zip(a, b))


def colorbar_ends(values: np.ndarray, layer: Layer) -> tuple[str, str]:
    """The colorbar's end labels for ``layer`` drawn from (smoothed) ``values`` ((N,) float)."""
    s = layer.settings
    if s.norm == "rank":
        return "lowest", "highest"
    finite = values[np.isfinite(values)]
    if s.norm == "centered":
        m = float(np.abs(finite).max()) if finite.size else 0.0
        return f"{-m:.3g}", f"{m:.3g}"
    if s.norm == "manual":  # a signed range (a difference map) shows its signs: -1 ... +1
        fmt = "+.3g" if s.vmin < 0 < s.vmax else ".3g"
        return f"{s.vmin:{fmt}}", f"{s.vmax:{fmt}}"
    if not finite.size:
        return "", ""
    lo, hi = (s.lo_pct, s.hi_pct) if s.norm == "percentile" else (0, 100)
    a, b = np.percentile(finite, [lo, hi])
    return f"{a:.3g}", f"{b:.3g}"


class LayerRenderCache:
    """Cached display steps of scalar layers, by layer name (see the module docstring)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._entries: dict[tuple[str, str], _Entry] = {}
        self.computed: dict[str, int] = {"smooth": 0, "normalise": 0, "colour": 0}  # work done, for tests

    def _get(self, step: str, name: str, key: tuple, make):
        entry = self._entries.get((step, name))
        if self.enabled and entry is not None and _same(entry.key, key):
            return entry.value
        value = make()
        self.computed[step] = self.computed.get(step, 0) + 1
        if self.enabled:
            self._entries[(step, name)] = _Entry(key, value)
        return value

    def forget(self, name: str | None = None) -> None:
        """Drop the cached steps of one layer (``None``: of every layer)."""
        self._entries = {k: v for k, v in self._entries.items() if name is not None and k[1] != name}

    @staticmethod
    def _smooth_key(layer: Layer, grid: PatchLattice | None) -> tuple:
        sigma = layer.settings.smooth_sigma
        usable = grid is not None and sigma > 0 and grid.coords.shape[0] == layer.values.shape[0]
        return (layer.values, grid if usable else None, float(sigma) if usable else 0.0)

    def smoothed(self, layer: Layer, grid: PatchLattice | None) -> np.ndarray:
        """(N,) float64 scores after the layer's smoothing (the scores themselves when off or without grid)."""
        key = self._smooth_key(layer, grid)
        return self._get("smooth", layer.name, key,
                         lambda: layer.values if key[1] is None else smooth_scores(grid, layer.values, key[2]))

    def _norm_key(self, layer: Layer, grid: PatchLattice | None) -> tuple:
        s = layer.settings
        return self._smooth_key(layer, grid) + (s.norm, s.vmin, s.vmax, s.lo_pct, s.hi_pct)

    def normalised(self, layer: Layer, grid: PatchLattice | None) -> np.ndarray:
        """(N,) float64 in [0, 1] (NaN where not finite) under the layer's normalisation."""
        s = layer.settings
        return self._get("normalise", layer.name, self._norm_key(layer, grid),
                         lambda: normalise(self.smoothed(layer, grid), s.norm, vmin=s.vmin, vmax=s.vmax,
                                           lo_pct=s.lo_pct, hi_pct=s.hi_pct))

    def ends(self, layer: Layer, grid: PatchLattice | None) -> tuple[str, str]:
        """Colorbar end labels (:func:`colorbar_ends`), cached with the normalisation."""
        return self._get("ends", layer.name, self._norm_key(layer, grid),
                         lambda: colorbar_ends(self.smoothed(layer, grid), layer))

    def _colours(self, layer: Layer, grid: PatchLattice | None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) uint8 colours at alpha 255 and (N,) threshold strength (NaN where not drawable)."""
        cmap = layer.settings.colormap

        def make():
            n = self.normalised(layer, grid)
            ok = np.isfinite(n)
            idx = np.clip(np.round(np.where(ok, n, 0.0) * 255.0), 0, 255).astype(np.intp)
            rgba = colormap_lut(cmap)[idx].copy()
            rgba[:, 3] = 255
            strength = np.abs(2.0 * n - 1.0) if cmap in DIVERGING else n.copy()
            return rgba, strength

        return self._get("colour", layer.name, self._norm_key(layer, grid) + (cmap,), make)

    def rgba(self, layer: Layer, grid: PatchLattice | None = None, tissue_fraction: np.ndarray | None = None, *,
             with_opacity: bool = True) -> np.ndarray:
        """(N, 4) uint8 colours of a scalar layer: hidden (alpha 0) below the threshold, non-finite or
        (``clip_to_tissue``) off tissue; other alphas are the opacity (``with_opacity``) or 255 (the
        view then sets the opacity on the drawn item)."""
        s = layer.settings
        colours, strength = self._colours(layer, grid)
        rgba = colours.copy()
        alpha = np.uint8(round(255 * float(np.clip(s.opacity, 0.0, 1.0)))) if with_opacity else np.uint8(255)
        with np.errstate(invalid="ignore"):
            visible = np.isfinite(strength) & (np.nan_to_num(strength, nan=-1.0) >= s.threshold)
        rgba[:, 3] = np.where(visible, alpha, np.uint8(0))
        if s.clip_to_tissue and tissue_fraction is not None and tissue_fraction.shape[0] == rgba.shape[0]:
            clip_alpha(rgba, tissue_fraction)
        return rgba
