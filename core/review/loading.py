"""Turn evidence and annotation files into overlay layers.

Evidence files are read with :func:`core.evidence.evidence_file.read_evidence` (checked against the
bag's coordinates, so a file of another slide is refused): every ``/scores/<method>`` and the GCE
gates become scalar layers, every ``/subsets/<name>`` a subset layer (described by its S/N numbers
when ``/snr/<name>`` holds them: :func:`subset_description`); gates, anchor responses and prompts are
kept for the hover readout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from core.evidence.evidence_file import read_evidence
from core.review.layer_roles import ensemble_units, spread_role
from core.review.layers import Layer, RegionLayer, regions_layer, scalar_layer, subset_layer

__all__ = ["EvidenceContent", "read_evidence_layers", "read_annotation_layers", "REGIONS_PREFIX", "file_region_layers", "subset_description", "UNITS",
           "map_units"]

UNITS = {
    "attention": "attention weight", "gate": "gate π", "gradient": "gradient", "grad_x_input": "gradient × input",
    "ig": "integrated gradients", "lrp": "relevance (LRP)", "single": "single-patch logit",
    "loo": "Δ logit (leave one out)",
}


@dataclass(frozen=True, eq=False)
class EvidenceContent:
    """What an evidence file holds, as layers plus the raw per-patch extras for the hover readout.

    Attributes
    ----------
    layers
        Scalar layers (scores, gates) then subset layers.
    gates
        (N,) float64 or ``None``.
    responses
        (N, M) float64 anchor responses or ``None``.
    prompts
        M anchor prompts (may be empty).
    classes
        Class names the model predicts (may be empty).
    snr
        ``{subset name: {number name: value}}`` as the file stores them.
    coords
        (N, 2) int64 level-0 patch corners the file holds (its own copy of the bag's).
    """

    layers: tuple[Layer, ...]
    gates: np.ndarray | None
    responses: np.ndarray | None
    prompts: tuple[str, ...]
    classes: tuple[str, ...] = ()
    snr: dict | None = None
    coords: np.ndarray | None = None


def map_units(name: str) -> str:
    """What map ``name`` measures (ensemble maps: :func:`core.review.layer_roles.ensemble_units`)."""
    return ensemble_units(name, lambda m: UNITS.get(m, "score")) or UNITS.get(name, "score")


def read_evidence_layers(path: str | os.PathLike, coords: np.ndarray | None) -> EvidenceContent:
    """Read an evidence file made for the bag with (N, 2) ``coords`` as layers (``None``: the file is
    opened alone and its own coordinates are used).

    Raises
    ------
    EvidentError
        Unreadable file, not an evidence file, or a file of another slide.
    """
    ev = read_evidence(path, coords=None if coords is None else np.asarray(coords, dtype=np.int64))
    maps = {k: np.asarray(v, dtype=np.float64) for k, v in ev.scores.items()}
    gates = None if ev.gates is None else np.asarray(ev.gates, dtype=np.float64)
    if gates is not None and "gate" not in maps:
        maps["gate"] = gates
    layers = [spread_role(scalar_layer(name, v, units=map_units(name), source=str(path))) for name, v in maps.items()]
    layers += [subset_layer(f"subset: {name}", s.indices, source=str(path), color=_subset_colour(name),
                            description=subset_description(ev.snr.get(name, {}), s.indices.size))
               for name, s in ev.subsets.items()]
    responses = None if ev.responses is None else np.asarray(ev.responses, dtype=np.float64)
    return EvidenceContent(tuple(layers), gates, responses, tuple(ev.prompts), tuple(ev.classes), dict(ev.snr),
                           np.asarray(ev.coords, dtype=np.int64))


_SET_COLOURS = ((255, 220, 0), (0, 200, 255), (255, 0, 200), (120, 255, 120), (180, 120, 255), (255, 255, 255))


def _subset_colour(name: str) -> tuple[int, int, int]:
    """Yellow for a subset; evidence set j (``evidence_set_<j>``) the j-th colour of a cycle, so sets differ."""
    tail = name.removeprefix("evidence_set_")
    if tail != name and tail.isdigit():
        return _SET_COLOURS[(int(tail) - 1) % len(_SET_COLOURS)]
    return _SET_COLOURS[0]


def subset_description(numbers: dict, size: int) -> str:
    """``"S +0.001 · N +0.850 · 5 patches"`` from a subset's S/N numbers (S = keep-only drop
    Φ(X) − Φ(X_S), N = complement degradation Φ(X) − Φ(X_¬S); an evidence set adds ``N∪``, the
    drop when it and every earlier set are removed); "" without numbers."""
    if "keep_only_drop" not in numbers:
        return ""
    parts = [f"S {numbers['keep_only_drop']:+.3f}"]
    if "complement_degradation" in numbers:
        parts.append(f"N {numbers['complement_degradation']:+.3f}")
    if "remove_union_degradation" in numbers:
        parts.append(f"N∪ {numbers['remove_union_degradation']:+.3f}")
    return " · ".join([*parts, f"{size} patch{'es' if size != 1 else ''}"])


#: the name of a region layer read from an annotation file: ``regions: <class>``
REGIONS_PREFIX = "regions: "


def file_region_layers(layers) -> list[Layer]:
    """The region layers among ``layers`` that :func:`read_annotation_layers` read from a file (a
    session file keeps their names): the viewer shows them read-only until they are converted into
    editable annotations (docs/annotate.md, "Region layers from files")."""
    return [x for x in layers if isinstance(x, RegionLayer) and x.geometry is not None and x.name.startswith(REGIONS_PREFIX)]


def read_annotation_layers(path: str | os.PathLike) -> list[Layer]:
    """Read GeoJSON / ASAP XML annotations as one region layer per class (``None`` class -> "annotations"),
    named ``regions: <class>``."""
    import shapely  # local: shapely only when used

    from core.data.annotations import read_annotations  # local: pulls in shapely

    anns = read_annotations(path)
    by_class: dict[str, list] = {}
    for a in anns:
        by_class.setdefault(a.classification or "annotations", []).append(a.geometry)
    palette = [(255, 120, 0), (0, 200, 255), (120, 255, 120), (255, 0, 200), (200, 200, 200)]
    return [regions_layer(f"{REGIONS_PREFIX}{cls}", shapely.union_all(geoms), source=str(path),
                          color=palette[i % len(palette)])
            for i, (cls, geoms) in enumerate(by_class.items())]
