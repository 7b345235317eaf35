"""Region annotations: QuPath GeoJSON (read + write) and ASAP / ImageScope XML (read).

All geometries are shapely ``Polygon`` / ``MultiPolygon`` in level-0 pixel coordinates (x right,
y down), holes kept. Invalid rings (self-intersections, as hand-drawn outlines often have) are
repaired with ``shapely.make_valid`` and reduced to their polygonal part. Point and line objects
(QuPath detections drawn as points, ASAP dots and rulers) carry no area and are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from core.atomic import atomic_write_text
from core.data.annotation import Annotation, polygonal
from core.data.annotation_xml import read_asap_xml
from core.data.patch_overlap import patch_labels
from core.errors import EvidentError
from core.jsonfile import read_json

__all__ = ["Annotation", "read_geojson", "write_geojson", "read_asap_xml", "read_annotations",
           "parse_feature", "patch_labels", "polygonal"]

_AREAL = ("Polygon", "MultiPolygon", "GeometryCollection")
_PALETTE = [(200, 0, 0), (0, 150, 0), (0, 0, 200), (200, 120, 0), (150, 0, 150), (0, 150, 150), (120, 120, 0)]


def read_geojson(path: str | os.PathLike) -> list[Annotation]:
    """Read a GeoJSON annotation file as QuPath exports it.

    Accepts a ``FeatureCollection``, a single ``Feature``, a bare list of features, or a bare
    geometry.

    Raises
    ------
    EvidentError
        Unreadable or malformed JSON, or a feature whose geometry cannot be read (named by index).
    """
    p = Path(path)
    doc = read_json(p, "annotation file", encoding="utf-8-sig")
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, dict) and "coordinates" in doc:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    elif isinstance(doc, list):
        features = doc
    else:
        raise EvidentError(p, "not a GeoJSON FeatureCollection, Feature or list of features")
    if not isinstance(features, list):
        raise EvidentError(p, "'features' is not a list")
    out = []
    for i, feat in enumerate(features):
        ann = parse_feature(p, i, feat)
        if ann is not None:
            out.append(ann)
    return out


def write_geojson(path: str | os.PathLike, annotations: list[Annotation]) -> None:
    """Write annotations atomically as a QuPath-compatible GeoJSON FeatureCollection.

    Each feature is ``{"type": "Feature", "geometry": ..., "properties": {"objectType":
    "annotation", "classification": {"name": ..., "color": [r, g, b]}, "name": ..., ...}}``;
    the colour is the one the annotation carried, else a fixed colour per class name. Annotations
    with an empty geometry are left out.
    """
    feats = []
    for ann in annotations:
        if ann.geometry is None or ann.geometry.is_empty:
            continue
        props = {k: v for k, v in ann.properties.items() if k not in ("classification", "name")}
        props.setdefault("objectType", "annotation")
        if ann.name is not None:
            props["name"] = ann.name
        if ann.classification is not None:
            old = ann.properties.get("classification")
            color = old.get("color") if isinstance(old, dict) else None
            props["classification"] = {"name": ann.classification, "color": list(color or _color(ann.classification))}
        feats.append({"type": "Feature", "geometry": mapping(ann.geometry), "properties": props})
    atomic_write_text(path, json.dumps({"type": "FeatureCollection", "features": feats}) + "\n")


def read_annotations(path: str | os.PathLike) -> list[Annotation]:
    """Read GeoJSON (``.geojson``/``.json``) or ASAP / ImageScope XML (``.xml``) by file suffix."""
    p = Path(path)
    return read_asap_xml(p) if p.suffix.lower() == ".xml" else read_geojson(p)


def parse_feature(p: Path, i: int, feat: Any) -> Annotation | None:
    """Feature ``i`` of file ``p`` as an :class:`Annotation` (its valid polygonal part); ``None`` for
    a feature with no geometry, a non-areal one or one that repairs to nothing. Raises
    :class:`EvidentError` naming the file and the feature."""
    if not isinstance(feat, dict):
        raise EvidentError(p, f"feature {i} is not a JSON object")
    if "geometry" not in feat:
        raise EvidentError(p, f"feature {i} has no geometry")
    geom = feat["geometry"]
    if geom is None:  # an "unlocated" feature: valid GeoJSON, nothing to draw
        return None
    if not isinstance(geom, dict) or "type" not in geom:
        raise EvidentError(p, f"feature {i} has a malformed geometry (an object with a 'type' is needed)")
    if geom["type"] not in _AREAL:
        return None
    try:
        with warnings.catch_warnings():  # shapely warns on NaN coordinates; they are refused just below
            warnings.simplefilter("ignore", RuntimeWarning)
            g = shape(geom)
        if not np.isfinite(shapely.get_coordinates(g)).all():  # make_valid would fail on NaN / Infinity
            raise EvidentError(p, f"feature {i}: {geom['type']} has non-finite coordinates (NaN or Infinity)")
        g = polygonal(g)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.ShapelyError) as exc:
        raise EvidentError(p, f"feature {i} has a malformed {geom['type']} ({exc})") from None
    except RecursionError:  # GeometryCollections nested thousands deep
        raise EvidentError(p, f"feature {i}: {geom['type']} nested too deeply") from None
    if g.is_empty:
        return None
    props = feat.get("properties") or {}
    if not isinstance(props, dict):
        raise EvidentError(p, f"feature {i}: 'properties' is not an object")
    cls = props.get("classification")
    if isinstance(cls, dict):
        cls = cls.get("name") or (": ".join(map(str, cls["names"])) if cls.get("names") else None)
    name = props.get("name")
    return Annotation(geometry=g, classification=None if cls is None else str(cls),
                      name=None if name is None else str(name), properties=dict(props))


def _color(name: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]
