"""ASAP and Aperio ImageScope XML annotations (read only).

ASAP::

    <ASAP_Annotations><Annotations>
      <Annotation Name="..." PartOfGroup="tumor" Type="Polygon">
        <Coordinates><Coordinate Order="0" X="..." Y="..."/>...</Coordinates>
      </Annotation></Annotations></ASAP_Annotations>

``Type`` Polygon, Spline and Rectangle are read as polygons (vertices ordered by ``Order``); Dot,
PointSet and rulers are skipped. ``PartOfGroup`` is the class (``"None"`` means none).

ImageScope::

    <Annotations><Annotation Name="..."><Regions>
      <Region Text="..." Type="0" NegativeROA="0"><Vertices><Vertex X="..." Y="..."/>...</Vertices></Region>
    </Regions></Annotation></Annotations>

Each region is one annotation classed by its ``Annotation``'s ``Name`` (or ``None``); a region with
``NegativeROA="1"`` is cut out of the other regions of its annotation. Rectangles / ellipses
given by two corner vertices (``Type`` 1 / 2) are expanded to their box / ellipse.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, box

from core.data.annotation import Annotation, polygonal
from core.errors import EvidentError

__all__ = ["read_asap_xml"]

_ASAP_AREAL = ("polygon", "spline", "rectangle")


def read_asap_xml(path: str | os.PathLike) -> list[Annotation]:
    """Read an ASAP or ImageScope XML file as a list of :class:`Annotation`.

    Raises
    ------
    EvidentError
        Unreadable or malformed XML, an unknown root element, or a vertex without numeric X/Y.
    """
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except FileNotFoundError:
        raise EvidentError(p, "annotation file not found") from None
    except ET.ParseError as exc:
        raise EvidentError(p, f"malformed XML ({exc})") from None
    except OSError as exc:
        raise EvidentError(p, f"cannot read the file ({exc})") from None
    try:
        if root.tag == "ASAP_Annotations":
            return _asap(p, root)
        if root.tag == "Annotations":
            return _imagescope(p, root)
    except (ValueError, shapely.errors.ShapelyError) as exc:  # rings shapely cannot repair
        raise EvidentError(p, f"an annotation's outline cannot be read ({exc})") from None
    raise EvidentError(p, f"not an ASAP or ImageScope annotation file (root element <{root.tag}>)")


def _xy(p: Path, el: ET.Element, where: str) -> tuple[float, float]:
    try:
        x, y = float(el.attrib["X"]), float(el.attrib["Y"])
    except (KeyError, ValueError):
        raise EvidentError(p, f"{where}: <{el.tag}> needs numeric X and Y attributes") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise EvidentError(p, f"{where}: <{el.tag}> has a non-finite X or Y")
    return x, y


def _ring(pts: list[tuple[float, float]]):
    if len(pts) < 3:
        return None
    g = polygonal(Polygon(pts))
    return None if g.is_empty else g


def _asap(p: Path, root: ET.Element) -> list[Annotation]:
    out = []
    for i, ann in enumerate(root.iter("Annotation")):
        kind = ann.attrib.get("Type", "Polygon").lower()
        if kind not in _ASAP_AREAL:
            continue
        where = f"annotation {i} ({ann.attrib.get('Name', '')})"
        coords = []
        for j, c in enumerate(ann.iter("Coordinate")):
            try:
                order = float(c.attrib.get("Order", j))
            except ValueError:
                raise EvidentError(p, f"{where}: Order {c.attrib['Order']!r} is not a number") from None
            coords.append((order, j, _xy(p, c, where)))
        g = _ring([xy for _, _, xy in sorted(coords)])
        if g is None:
            continue
        group = ann.attrib.get("PartOfGroup")
        out.append(Annotation(geometry=g, classification=None if group in (None, "", "None") else group,
                              name=ann.attrib.get("Name") or None, properties=dict(ann.attrib)))
    return out


def _region_geometry(p: Path, region: ET.Element, where: str):
    pts = [_xy(p, v, where) for v in region.iter("Vertex")]
    kind = region.attrib.get("Type", "0")
    if len(pts) == 2 and kind in ("1", "2"):
        (x0, y0), (x1, y1) = pts
        if x0 == x1 or y0 == y1:
            return None
        if kind == "1":
            return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        circle = Point((x0 + x1) / 2, (y0 + y1) / 2).buffer(1.0, quad_segs=32)
        return affinity.scale(circle, abs(x1 - x0) / 2, abs(y1 - y0) / 2)
    return _ring(pts)


def _imagescope(p: Path, root: ET.Element) -> list[Annotation]:
    out = []
    for i, ann in enumerate(root.iter("Annotation")):
        cls = ann.attrib.get("Name") or None
        positive, negative = [], []
        for j, region in enumerate(ann.iter("Region")):
            g = _region_geometry(p, region, f"annotation {i}, region {j}")
            if g is None:
                continue
            (negative if region.attrib.get("NegativeROA") == "1" else positive).append((region, g))
        cut = shapely.union_all([g for _, g in negative]) if negative else None
        for region, g in positive:
            if cut is not None:
                g = polygonal(g.difference(cut))
                if g.is_empty:
                    continue
            out.append(Annotation(geometry=g, classification=cls, name=region.attrib.get("Text") or None,
                                  properties=dict(region.attrib)))
    return out
