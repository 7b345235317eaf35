"""Overlay layers as plain data: what a layer shows and how (its display settings).

A :class:`Layer` is immutable; changing a setting replaces it in the review session (which emits
``layer_changed``). Three distinct types sharing the base :class:`Layer` (name, units, source,
settings, description):

* :class:`ScalarLayer`: one score per patch (attention, gate, IG, deltas...), ``values`` (N,) float;
* :class:`SubsetLayer`: a set of patches drawn as merged outlines, ``indices`` (K,) int64;
* :class:`RegionLayer`: annotation polygons, ``geometry`` a shapely (Multi)Polygon in level-0 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from core.review.normalise import COLORMAPS, NORM_MODES, describe, is_signed

__all__ = ["GCE_SUBSETS", "LAYER_TYPES", "LayerSettings", "Layer", "ScalarLayer", "SubsetLayer", "RegionLayer",
           "gce_subset_layer", "scalar_layer", "subset_layer", "regions_layer"]

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
    """One overlay: the fields every layer has. A layer is one of the three types below and code
    dispatches on the type (``isinstance`` / ``match``), never on a name or tag.

    Attributes
    ----------
    name
        Unique within a session (``"attention"``, ``"gate"``, ``"ig"``, ``"subset: gce"``...).
    units
        What the scores measure, for the colorbar (``"attention weight"``, ``"Δ logit"``...).
    source
        File or computation it came from.
    settings
        :class:`LayerSettings`.
    description
        One line shown with the layer's name (e.g. a subset's S/N numbers), "" if none.

    ``kind`` (class attribute: ``"scalar"``, ``"subset"``, ``"regions"``) is the word a session file
    stores and the layers list shows; it is not for dispatch.
    """

    kind: ClassVar[str] = ""
    name: str
    units: str = "score"
    source: str = ""
    settings: LayerSettings = field(default_factory=LayerSettings)
    description: str = ""

    def __post_init__(self) -> None:
        if type(self) is Layer:
            raise TypeError("Layer is the common base: make a ScalarLayer, SubsetLayer or RegionLayer")

    def with_settings(self, **changes: Any) -> Layer:
        """A copy (of the same type) with some settings changed (validated)."""
        return replace(self, settings=replace(self.settings, **changes))


@dataclass(frozen=True, eq=False, kw_only=True)
class ScalarLayer(Layer):
    """One score per patch (attention, gate, IG, deltas...): ``values`` (N,) float64, read-only."""

    kind: ClassVar[str] = "scalar"
    values: np.ndarray


@dataclass(frozen=True, eq=False, kw_only=True)
class SubsetLayer(Layer):
    """A set of patches drawn as merged outlines: ``indices`` (K,) int64 patch indices, read-only."""

    kind: ClassVar[str] = "subset"
    indices: np.ndarray


@dataclass(frozen=True, eq=False, kw_only=True)
class RegionLayer(Layer):
    """Annotation polygons: ``geometry`` a shapely (Multi)Polygon in level-0 px (``None``: no shape)."""

    kind: ClassVar[str] = "regions"
    geometry: Any = None


#: Layer type by the ``kind`` word a session file stores.
LAYER_TYPES: dict[str, type[Layer]] = {t.kind: t for t in (ScalarLayer, SubsetLayer, RegionLayer)}


def scalar_layer(name: str, values: np.ndarray, *, units: str = "score", source: str = "",
                 visible: bool = True) -> ScalarLayer:
    """A scalar layer with readable defaults: percentile rank (CLAM style) / viridis / opacity 0.5 for
    maps >= 0 (skewed maps such as softmax attention would otherwise look uniformly cold), centred
    RdBu for signed maps. ``visible=False``: listed in the Layers panel, not drawn until ticked."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v.setflags(write=False)
    settings = LayerSettings(colormap="RdBu_r", norm="centered", visible=visible) if is_signed(v) \
        else LayerSettings(visible=visible)
    return ScalarLayer(name=name, values=v, units=units, source=source, settings=settings)


def subset_layer(name: str, indices: np.ndarray, *, source: str = "",
                 color: tuple[int, int, int] = (255, 220, 0), description: str = "") -> SubsetLayer:
    """A subset layer (outlines of the merged patch squares)."""
    idx = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
    idx.setflags(write=False)
    return SubsetLayer(name=name, indices=idx, units="patches", source=source,
                       settings=LayerSettings(opacity=1.0, color=color), description=description)


def regions_layer(name: str, geometry: Any, *, source: str = "",
                  color: tuple[int, int, int] = (255, 120, 0)) -> RegionLayer:
    """A region layer (annotation polygons)."""
    return RegionLayer(name=name, geometry=geometry, units="region", source=source,
                       settings=LayerSettings(opacity=1.0, color=color))


def gce_subset_layer(layers) -> SubsetLayer | None:
    """The layer of GCE's recovered subset among ``layers`` (by name, :data:`GCE_SUBSETS`), or ``None``."""
    by_name = {x.name: x for x in layers if isinstance(x, SubsetLayer)}
    return next((by_name[f"subset: {n}"] for n in GCE_SUBSETS if f"subset: {n}" in by_name), None)
