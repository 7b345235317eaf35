"""How well a patch map agrees with the annotated regions on screen (docs/explanations.md §3).

Qt-free: the layers dock shows the result for the selected map against every annotation layer.
Patch ground truth follows the project rule: a patch is inside when ≥ 1% of its area overlaps the
annotation (:func:`core.data.annotations.patch_labels`). The saliency region B is the map's top
``top_fraction`` of patches; A is the annotated patches. Each number comes with its chance level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.data.annotations import patch_labels
from core.diagnostics.localisation import coverage_precision, dice, relevance_mass

__all__ = ["AnnotationMasks", "map_vs_annotation", "format_metrics"]


class AnnotationMasks:
    """(N,) bool patch masks of annotation geometries, computed once per (geometry, coords, patch size).

    Selecting layers in the dock asks for the same mask again and again; labelling patches against a
    polygon is the costly step (≈ 0.2 s for 100k patches), so it is kept. Keys hold the geometry and
    the coords array themselves and compare them by identity: a new slide or annotation recomputes.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Any, np.ndarray, int, np.ndarray]] = []

    def get(self, coords: np.ndarray, patch_size: int, geometry: Any) -> np.ndarray:
        """(N,) bool: patches with ≥ 1% of their area inside ``geometry``."""
        for g, c, ps, mask in self._items:
            if g is geometry and c is coords and ps == patch_size:
                return mask
        mask = patch_labels(np.asarray(coords), int(patch_size), [geometry])
        self._items = [it for it in self._items if it[1] is coords][-15:] + [(geometry, coords, int(patch_size), mask)]
        return mask


def map_vs_annotation(values: np.ndarray, coords: np.ndarray, patch_size: int, geometry: Any,
                      top_fraction: float = 0.05, masks: AnnotationMasks | None = None) -> dict | None:
    """Agreement of a map with one annotation.

    Parameters
    ----------
    values
        (N,) float scores of the map (NaN for patches without a score).
    coords
        (N, 2) int64 level-0 top-left corners of the patches.
    patch_size
        Patch side in level-0 pixels.
    geometry
        shapely (Multi)Polygon of the annotation, in level-0 pixels.
    top_fraction
        Size of the saliency region B as a fraction of the scored patches.
    masks
        A cache of patch masks to reuse (else the mask is computed here).

    Returns
    -------
    dict or None
        ``n_inside``, ``coverage``, ``precision``, ``relevance_mass``, ``dice`` (of B against A)
        and each ``*_chance``; ``None`` when no scored patch lies inside the annotation.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    inside = masks.get(coords, patch_size, geometry) if masks is not None else \
        patch_labels(np.asarray(coords), int(patch_size), [geometry])
    truth = inside[ok]
    if not truth.any():
        return None
    s = v[ok]
    out: dict[str, float] = {"n_inside": int(truth.sum()), "n": int(s.size), "top_fraction": float(top_fraction)}
    out.update(coverage_precision(s, truth, top_fraction))
    out.update(relevance_mass(s, truth))
    k = max(1, int(np.ceil(top_fraction * s.size)))
    cut = np.sort(s)[::-1][k - 1]  # the score of the k-th patch: B = {s ≥ cut}
    out.update(dice(s, truth, cut))
    return out


def format_metrics(name: str, m: dict | None) -> str:
    """One line for the dock: ``"Tumor: coverage 0.40 (chance 0.05) · precision ..."``."""
    if m is None:
        return f"{name}: no scored patch inside"
    pct = round(100 * m["top_fraction"])
    return (f"{name} ({m['n_inside']} patches), top {pct}%: coverage {m['coverage']:.2f} "
            f"(chance {m['coverage_chance']:.2f}) · precision {m['precision']:.2f} "
            f"(chance {m['precision_chance']:.2f}) · relevance mass {m['relevance_mass']:.2f} "
            f"(chance {m['relevance_mass_chance']:.2f}) · Dice {m['dice']:.2f} (chance {m['dice_chance']:.2f})")
