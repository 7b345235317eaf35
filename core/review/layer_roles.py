"""Which layers a reviewer sees first, in which colours, and which map the colorbar describes.

Defaults for a freshly opened evidence file (:func:`default_layers`):

* one map visible, the model's primary map (:func:`primary_map`): the GCE gates (``"gate"``) when
  the file holds gates, else ``"attention"``, else its first map, at opacity 0.5; every other map
  is hidden (stacked half-opaque maps hide the tissue);
* subsets drawn as outlines, each in its own colour from :data:`SUBSET_COLOURS`;
* ensemble spread maps (``<method>_ensemble_std``, ``<method>_ensemble_rank_spread``,
  docs/ensemble_maps.md) drawn with the sequential :data:`SPREAD_COLORMAP` over min–max, their
  units starting with "spread" so the colorbar says what they are (:func:`spread_role`).

:func:`map_in_focus` names the scalar layer the colorbar and the thresholded-map export follow:
the layer selected in the Layers panel when it is a visible map, else the top visible map. See
docs/viewer_layout.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.review.layers import Layer, ScalarLayer, SubsetLayer

__all__ = ["SUBSET_COLOURS", "PRIMARY_OPACITY", "primary_map", "default_layers", "distinct_subset_colour",
           "map_in_focus", "SPREAD_SUFFIXES", "SPREAD_COLORMAP", "ENSEMBLE_SUFFIXES", "ensemble_units", "spread_role"]

# Outline colours for subsets, distinct from each other, from the region palette (orange, cyan,
# green, pink, grey: core.review.loading) and from the cyan dashed selection outline.
SUBSET_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 220, 0),  # yellow
    (230, 40, 230),  # magenta
    (40, 90, 255),  # blue
    (230, 30, 30),  # red
    (0, 150, 60),  # dark green
    (0, 0, 0),  # black
)
PRIMARY_OPACITY = 0.5
#: Ensemble maps (``evident explain --ensemble``) by suffix, with how their units read.
ENSEMBLE_SUFFIXES = {"_ensemble_mean": "mean over models of {units}",
                     "_ensemble_std": "spread: std over models of {units}",
                     "_ensemble_rank_spread": "spread: std over models of the percentile rank (0-100)"}
#: The ensemble maps that measure disagreement between models.
SPREAD_SUFFIXES = ("_ensemble_std", "_ensemble_rank_spread")
SPREAD_COLORMAP = "magma"  # sequential, and distinct from the maps' default viridis


def ensemble_units(name: str, units_of) -> str | None:
    """The units of ensemble map ``name`` (``units_of(method)`` gives the member maps' units), or
    ``None`` when ``name`` is not an ensemble map."""
    for suffix, text in ENSEMBLE_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return text.format(units=units_of(name[: -len(suffix)]))
    return None


def spread_role(layer: Layer) -> Layer:
    """``layer`` drawn as a spread map (:data:`SPREAD_COLORMAP`, min–max) when its name ends with
    one of :data:`SPREAD_SUFFIXES`; any other layer unchanged. The spread is >= 0: a sequential
    colormap reads low → high, a diverging one would invent a centre."""
    if isinstance(layer, ScalarLayer) and layer.name.endswith(SPREAD_SUFFIXES):
        return layer.with_settings(colormap=SPREAD_COLORMAP, norm="minmax")
    return layer


def primary_map(layers: Sequence[Layer], has_gates: bool) -> str | None:
    """Name of the map to show first: ``"gate"`` for a GCE model (``has_gates``), else
    ``"attention"``, else the first scalar layer; ``None`` when there is no scalar layer."""
    names = [x.name for x in layers if isinstance(x, ScalarLayer)]
    for name in (("gate",) if has_gates else ()) + ("attention",):
        if name in names:
            return name
    return names[0] if names else None


def default_layers(new: Sequence[Layer], existing: Sequence[Layer] = (), *, has_gates: bool = False) -> list[Layer]:
    """The display defaults for layers ``new`` read from one evidence file.

    ``existing`` are the layers already open: when one of their maps is visible, every new map
    starts hidden (one map at a time); otherwise only the primary map (:func:`primary_map`) is
    visible, at :data:`PRIMARY_OPACITY`. Subsets get distinct colours (:func:`distinct_subset_colour`).
    """
    replaced = {x.name for x in new}
    existing = [x for x in existing if x.name not in replaced]
    shown = any(isinstance(x, ScalarLayer) and x.settings.visible for x in existing)
    primary = None if shown else primary_map(new, has_gates)
    out: list[Layer] = []
    for layer in new:
        match layer:
            case ScalarLayer():
                on = layer.name == primary
                layer = layer.with_settings(visible=on, opacity=PRIMARY_OPACITY if on else layer.settings.opacity)
            case SubsetLayer():
                layer = distinct_subset_colour(layer, [*existing, *out])
        out.append(layer)
    return out


def distinct_subset_colour(layer: Layer, others: Sequence[Layer]) -> Layer:
    """``layer`` (a subset) recoloured with the first :data:`SUBSET_COLOURS` entry no other subset
    in ``others`` uses; unchanged when its colour is already unique or it is not a subset."""
    if not isinstance(layer, SubsetLayer):
        return layer
    used = {x.settings.color for x in others if isinstance(x, SubsetLayer) and x.name != layer.name}
    if layer.settings.color not in used:
        return layer
    free = [c for c in SUBSET_COLOURS if c not in used]
    colour = free[0] if free else SUBSET_COLOURS[len(used) % len(SUBSET_COLOURS)]
    return layer.with_settings(color=colour)


def map_in_focus(layers: Sequence[Layer], current: str | None) -> Layer | None:
    """The map the colorbar describes: ``current`` (the selected layer) when it is a visible scalar
    layer, else the top visible scalar layer (``layers`` are bottom to top), else ``None``."""
    for layer in layers:
        if layer.name == current and isinstance(layer, ScalarLayer) and layer.settings.visible:
            return layer
    return next((x for x in reversed(layers) if isinstance(x, ScalarLayer) and x.settings.visible), None)
