"""One annotated region (shapely geometry + class) and the repair every reader applies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely

__all__ = ["Annotation", "polygonal"]


@dataclass(frozen=True, eq=False)
class Annotation:
    """One annotated region.

    Attributes
    ----------
    geometry
        shapely ``Polygon`` or ``MultiPolygon``, valid, non-empty, level-0 pixels.
    classification
        Class name (QuPath ``properties.classification.name``, ASAP ``PartOfGroup``), or ``None``.
    name
        The object's own name, or ``None``.
    properties
        Every other property the file carried (JSON-serialisable).
    """

    geometry: Any
    classification: str | None = None
    name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def polygonal(geom: Any) -> Any:
    """Return the valid polygonal part of ``geom`` (``Polygon``/``MultiPolygon``; may be empty)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    if not polys:
        return shapely.MultiPolygon()
    merged = shapely.union_all(polys)
    if merged.geom_type in ("Polygon", "MultiPolygon"):
        return merged
    return shapely.MultiPolygon([g for g in shapely.get_parts(merged) if g.geom_type == "Polygon"])
