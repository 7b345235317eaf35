"""Overlay layers as plain data: what a layer shows and how (its display settings).

A :class:`Layer` is immutable; changing a setting replaces it in the review session (which emits
``layer_changed``). Three kinds:

* ``"scalar"``: one score per patch (attention, gate, IG, deltas...), ``values`` (N,) float;
* ``"subset"``: a set of patches drawn as merged outlines, ``indices`` (K,) int64;
* ``"regions"``: annotation polygons, ``geometry`` a shapely (Multi)Polygon in level-0 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.review.normalise import COLORMAPS, NORM_MODES, describe, is_signed

__all__ = ["GCE_SUBSETS", "LayerSettings", "Layer", "gce_subset_layer", "scalar_layer", "subset_layer", "regions_layer"]

#: Subset names that hold GCE's recovered evidence, in order of preference: ``recovered`` (written by
#: ``evident recover`` / ``explain``, layout in :mod:`core.evidence.evidence_file`) and ``gce`` (the viewer's demo project).
#: Other subsets of an evidence file (``attention_topk``, ``threshold``...) are baselines, never "the
#: GCE subset".
GCE_SUBSETS = ("recovered", "gce")


@dataclass(frozen=True)
class LayerSettings:
    """How a layer is drawn.

    ``threshold`` is in normalised units [0, 1] (patches below it are hidden); ``opacity`` in
    [0, 1]; ``filled`` fills subset/region outlines with a translucent colour. For scalar layers,
    ``clip_to_tissue`` hides patches whose tissue fraction is below 0.5 (once tissue is detected)
    and ``smooth_sigma`` (patches, 0 = off) Gaussian-smooths the scores on the patch grid before
    normalising (:func:`core.review.smoothing.smooth_scores`).
    """

    visible: bool = True
    colormap: str = "viridis"
    norm: str = "rank"
    vmin: float | None = None
    vmax: float | None = None
    lo_pct: float = 1.0
    hi_pct: float = 99.0
    opacity: float = 0.5
    threshold: float = 0.0
    filled: bool = False
    color: tuple[int, int, int] = (255, 220, 0)
    clip_to_tissue: bool = False
    smooth_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.colormap not in COLORMAPS:
            raise ValueError(f"unknown colormap {self.colormap!r}")
        if self.norm not in NORM_MODES:
            raise ValueError(f"unknown normalisation {self.norm!r}")
        if self.norm == "manual" and (self.vmin is None or self.vmax is None):
            raise ValueError("manual normalisation needs vmin and vmax")
        if not (0.0 <= self.opacity <= 1.0 and 0.0 <= self.threshold <= 1.0):
            raise ValueError("opacity and threshold must lie in [0, 1]")
        if not (0.0 <= float(self.smooth_sigma) <= 50.0):
            raise ValueError("smoothing sigma must lie in [0, 50] patches")

    def describe(self) -> str:
        """The normalisation in words (for the colorbar), with smoothing and tissue clipping when on."""
        text = describe(self.norm, vmin=self.vmin, vmax=self.vmax, lo_pct=self.lo_pct, hi_pct=self.hi_pct)
        if self.smooth_sigma > 0:
            text += f"; smoothed σ = {self.smooth_sigma:g} patches"
        if self.clip_to_tissue:
            text += "; clipped to tissue"
        return text


@dataclass(frozen=True, eq=False)
class Layer:
    """One overlay.

    Attributes
    ----------
    name
        Unique within a session (``"attention"``, ``"gate"``, ``"ig"``, ``"subset: gce"``...).
    kind
        ``"scalar"``, ``"subset"`` or ``"regions"``.
    values
        (N,) float64 scores for scalar layers, else ``None``.
    indices
        (K,) int64 patch indices for subset layers, else ``None``.
    geometry
        shapely geometry for region layers, else ``None``.
    units
        What the scores measure, for the colorbar (``"attention weight"``, ``"Δ logit"``...).
    source
        File or computation it came from.
    settings
        :class:`LayerSettings`.
    description
        One line shown with the layer's name (e.g. a subset's S/N numbers), "" if none.
    """

    name: str
    kind: str
    values: np.ndarray | None = None
    indices: np.ndarray | None = None
    geometry: Any = None
    units: str = "score"
    source: str = ""
    settings: LayerSettings = field(default_factory=LayerSettings)
    description: str = ""

    def with_settings(self, **changes: Any) -> Layer:
        """A copy with some settings changed (validated)."""
        return replace(self, settings=replace(self.settings, **changes))


def scalar_layer(name: str, values: np.ndarray, *, units: str = "score", source: str = "",
                 visible: bool = True) -> Layer:
    """A scalar layer with readable defaults: percentile rank (CLAM style) / viridis / opacity 0.5 for
    maps >= 0 (skewed maps such as softmax attention would otherwise look uniformly cold), centred
    RdBu for signed maps. ``visible=False``: listed in the Layers panel, not drawn until ticked."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v.setflags(write=False)
    settings = LayerSettings(colormap="RdBu_r", norm="centered", visible=visible) if is_signed(v) \
        else LayerSettings(visible=visible)
    return Layer(name=name, kind="scalar", values=v, units=units, source=source, settings=settings)


def subset_layer(name: str, indices: np.ndarray, *, source: str = "",
                 color: tuple[int, int, int] = (255, 220, 0), description: str = "") -> Layer:
    """A subset layer (outlines of the merged patch squares)."""
    idx = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
    idx.setflags(write=False)
    return Layer(name=name, kind="subset", indices=idx, units="patches", source=source,
                 settings=LayerSettings(opacity=1.0, color=color), description=description)


def regions_layer(name: str, geometry: Any, *, source: str = "", color: tuple[int, int, int] = (255, 120, 0)) -> Layer:
    """A region layer (annotation polygons)."""
    return Layer(name=name, kind="regions", geometry=geometry, units="region", source=source,
                 settings=LayerSettings(opacity=1.0, color=color))


def gce_subset_layer(layers) -> Layer | None:
    """The layer of GCE's recovered subset among ``layers`` (by name, :data:`GCE_SUBSETS`), or ``None``."""
    by_name = {x.name: x for x in layers if x.kind == "subset"}
    return next((by_name[f"subset: {n}"] for n in GCE_SUBSETS if f"subset: {n}" in by_name), None)
