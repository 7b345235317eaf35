"""Editable annotations: draw, reshape, classify, merge/subtract, undo/redo, QuPath GeoJSON (docs/annotate.md).

Qt-free. An :class:`AnnotationDocument` holds a tuple of immutable :class:`DrawnAnnotation` (shapely
geometry in level-0 pixels, x right, y down): regions (``Polygon``/``MultiPolygon``, holes kept) and
point sets (``MultiPoint``, for counting). Every edit replaces the tuple and pushes the previous one
on the undo stack, so undo/redo are exact and cheap (geometries are shared, never copied).

Classes are QuPath's default class list with QuPath's colours (qupath-core
``PathClassFactory.StandardPathClasses``: Tumor, Stroma, Immune cells, Necrosis, Other, Region*,
Ignore*, Positive, Negative) plus any class a loaded file names. Files are written as QuPath exports
GeoJSON (File › Export objects as GeoJSON): a FeatureCollection of ``Feature`` objects with an
``id`` (UUID), the geometry, and ``properties`` ``{"objectType": "annotation", "classification":
{"name", "color": [r, g, b]}, "name"?}``; points are ``MultiPoint`` annotations. Reading accepts
the same and everything :func:`core.data.annotations.read_annotations` accepts (ASAP XML included).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import MultiPoint, Polygon, mapping, shape

from core.atomic import atomic_write_text
from core.data.annotation import Annotation, polygonal
from core.errors import EvidentError
from core.jsonfile import read_json
from core.review.signals import Signal

__all__ = ["AnnotationClass", "AnnotationDocument", "DrawnAnnotation", "QUPATH_CLASSES", "RegionStats",
           "ellipse", "rectangle"]

AnnotationKind = Literal["region", "points"]


class AnnotationClass(NamedTuple):
    """A class: its name and display colour ``(r, g, b)`` 0-255."""

    name: str
    color: tuple[int, int, int]


#: QuPath's default class list and colours (Positive/Negative: QuPath scales their base colour by 1.25)
QUPATH_CLASSES: tuple[AnnotationClass, ...] = (
    AnnotationClass("Tumor", (200, 0, 0)),
    AnnotationClass("Stroma", (150, 200, 150)),
    AnnotationClass("Immune cells", (160, 90, 160)),
    AnnotationClass("Necrosis", (50, 50, 50)),
    AnnotationClass("Other", (255, 200, 0)),
    AnnotationClass("Region*", (0, 0, 180)),
    AnnotationClass("Ignore*", (180, 180, 180)),
    AnnotationClass("Positive", (250, 62, 62)),
    AnnotationClass("Negative", (112, 112, 225)),
)
UNCLASSIFIED_COLOR = (255, 0, 0)
#: QuPath's object types (qupath-core PathObjectTypeAdapters): written back as read, else "annotation"
_OBJECT_TYPES = ("annotation", "detection", "cell", "tile", "tmaCore")  # QuPath draws unclassified annotations red


@dataclass(frozen=True, eq=False)
class DrawnAnnotation:
    """One annotation: ``geometry`` (valid ``Polygon``/``MultiPolygon``, or ``MultiPoint``; level-0 px),
    ``classification`` (a class name or ``None``), ``name``, ``uid`` (QuPath's feature id) and any
    other properties a file carried."""

    geometry: Any
    classification: str | None = None
    name: str | None = None
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> AnnotationKind:
        return "points" if self.geometry.geom_type in ("Point", "MultiPoint") else "region"

    @property
    def locked(self) -> bool:
        """QuPath's ``isLocked``: the shape is not moved or reshaped (class, name, delete still work)."""
        return self.properties.get("isLocked") is True


class RegionStats(NamedTuple):
    """What the annotation list shows for one annotation."""

    area_um2: float | None   # None without µm/px (then see area_px)
    area_px: float           # level-0 px²
    n_points: int            # points of a point set (0 for a region)
    n_patches: int           # patches whose centre lies inside (0 without a patch grid)


def rectangle(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """The axis-aligned rectangle with corners ``(x0, y0)`` and ``(x1, y1)`` (any order)."""
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def ellipse(x0: float, y0: float, x1: float, y1: float, segments: int = 72) -> Polygon:
    """The ellipse inscribed in the rectangle ``(x0, y0)``–``(x1, y1)``, as a ``segments``-gon."""
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    return Polygon(np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)]))


class AnnotationDocument:
    """The annotations being edited on one slide, with undo/redo; ``changed`` fires after every edit."""

    def __init__(self, items: Iterable[DrawnAnnotation] = (), classes: Sequence[AnnotationClass] = QUPATH_CLASSES) -> None:
        self.items: tuple[DrawnAnnotation, ...] = tuple(items)
        self.classes: list[AnnotationClass] = list(classes)
        self._undo: list[tuple[DrawnAnnotation, ...]] = []
        self._redo: list[tuple[DrawnAnnotation, ...]] = []
        self._tree: tuple[tuple, Any] | None = None
        self.changed = Signal()
        self.saved_items: tuple[DrawnAnnotation, ...] = self.items  # what the file on disk holds

    # ---- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def get(self, uid: str) -> DrawnAnnotation:
        for a in self.items:
            if a.uid == uid:
                return a
        raise KeyError(uid)

    @property
    def modified(self) -> bool:
        """Whether there are edits not yet saved (or loaded)."""
        return self.items is not self.saved_items

    def color(self, classification: str | None) -> tuple[int, int, int]:
        for c in self.classes:
            if c.name == classification:
                return c.color
        return UNCLASSIFIED_COLOR

    def hit(self, x: float, y: float, tolerance: float = 0.0) -> str | None:
        """The uid of the topmost (last drawn) annotation at level-0 ``(x, y)`` within ``tolerance``
        px (regions: inside or near the outline; points: near a point), else ``None``. A spatial
        index (shapely STRtree) keeps this fast with 10,000s of annotations."""
        if not self.items:
            return None
        tree = self._index()
        probe = shapely.Point(x, y).buffer(tolerance) if tolerance > 0 else shapely.Point(x, y)
        candidates = tree.query(probe, predicate="intersects")
        return self.items[int(max(candidates))].uid if len(candidates) else None

    def _index(self):
        if self._tree is None or self._tree[0] is not self.items:
            self._tree = (self.items, shapely.STRtree([a.geometry for a in self.items]))
        return self._tree[1]

    def stats(self, uid: str, *, mpp: float | None = None, coords: np.ndarray | None = None,
              patch_size: int | None = None) -> RegionStats:
        """Area (µm² with ``mpp`` µm/px, else px²), points, and patches of the grid ``coords``
        ((N, 2) level-0 corners, ``patch_size`` level-0 px) whose centre lies inside."""
        a = self.get(uid)
        area = float(a.geometry.area)
        n_points = len(a.geometry.geoms) if a.kind == "points" else 0
        n_patches = 0
        if a.kind == "region" and coords is not None and patch_size and len(coords):
            centres = np.asarray(coords, np.float64) + patch_size / 2.0
            n_patches = int(shapely.contains_xy(a.geometry, centres[:, 0], centres[:, 1]).sum())
        return RegionStats(area * mpp * mpp if mpp else None, area, n_points, n_patches)

    # ---- edits -----------------------------------------------------------------------------
    def _commit(self, items: Iterable[DrawnAnnotation]) -> None:
        self._undo.append(self.items)
        self._redo.clear()
        self.items = tuple(items)
        self.changed.emit()

    def add(self, geometry: Any, classification: str | None = None, name: str | None = None) -> str:
        """Add a region (repaired to its valid polygonal part) or a point set; returns its uid.

        Raises ``ValueError`` for an empty region (e.g. a click without a drag)."""
        geom = _clean(geometry)
        item = DrawnAnnotation(geom, classification, name)
        self._commit((*self.items, item))
        return item.uid

    def add_point(self, uid: str | None, x: float, y: float, classification: str | None = None) -> str:
        """Add a point to the point set ``uid`` (a new set when ``None``); returns the set's uid."""
        if uid is None:
            return self.add(MultiPoint([(x, y)]), classification)
        a = self.get(uid)
        pts = [*(p.coords[0] for p in a.geometry.geoms), (x, y)]
        return self._replace(uid, geometry=MultiPoint(pts))

    def extend(self, items: Iterable[DrawnAnnotation]) -> None:
        """Add annotations read from a file (one undoable edit); ids already present get new ones."""
        have = {a.uid for a in self.items}
        new = [a if a.uid not in have else replace(a, uid=str(uuid.uuid4())) for a in items]
        if new:
            self._commit((*self.items, *new))

    def remove(self, uids: Iterable[str]) -> None:
        drop = set(uids)
        self._commit(a for a in self.items if a.uid not in drop)

    def _unlocked(self, uids: Iterable[str]) -> None:
        locked = [u for u in uids if self.get(u).locked]
        if locked:
            raise ValueError(f"{len(locked)} selected annotation{'s are' if len(locked) > 1 else ' is'} locked")

    def set_locked(self, uids: Iterable[str], locked: bool) -> None:
        """Lock or unlock (QuPath's ``isLocked``, written only when true, as QuPath does)."""
        chosen = set(uids)

        def props(a: DrawnAnnotation) -> dict:
            p = {k: v for k, v in a.properties.items() if k != "isLocked"}
            return {**p, "isLocked": True} if locked else p
        self._commit(replace(a, properties=props(a)) if a.uid in chosen else a for a in self.items)

    def move(self, uids: Iterable[str], dx: float, dy: float) -> None:
        """Translate annotations by ``(dx, dy)`` level-0 px (``ValueError`` when one is locked)."""
        moving = set(uids)
        self._unlocked(moving)
        self._commit(replace(a, geometry=affinity.translate(a.geometry, dx, dy)) if a.uid in moving else a
                     for a in self.items)

    def set_geometry(self, uid: str, geometry: Any) -> None:
        """Replace the shape of ``uid`` (repaired like :meth:`add`; ``ValueError`` when it has no area
        or is locked)."""
        self._unlocked([uid])
        self._replace(uid, geometry=_clean(geometry))

    def set_class(self, uids: Iterable[str], classification: str | None) -> None:
        changing = set(uids)
        self._commit(replace(a, classification=classification) if a.uid in changing else a for a in self.items)

    def rename(self, uid: str, name: str | None) -> None:
        self._replace(uid, name=name or None)

    def vertices(self, uid: str) -> np.ndarray:
        """The editable vertices of a region: its (largest) polygon's exterior, ``(V, 2)`` (the closing
        vertex not repeated); of a point set, its points."""
        a = self.get(uid)
        if a.kind == "points":
            return np.array([p.coords[0] for p in a.geometry.geoms])
        return np.asarray(_main_polygon(a.geometry).exterior.coords)[:-1]

    def move_vertex(self, uid: str, index: int, x: float, y: float) -> None:
        """Reshape: move vertex ``index`` of :meth:`vertices` to ``(x, y)``; a self-crossing result is
        repaired to its valid polygonal part."""
        a = self.get(uid)
        self._unlocked([uid])
        v = self.vertices(uid)
        v[index] = (x, y)
        if a.kind == "points":
            self._replace(uid, geometry=MultiPoint(v))
            return
        main = _main_polygon(a.geometry)
        reshaped = Polygon(v, [r.coords for r in main.interiors])
        others = [p for p in shapely.get_parts(a.geometry) if p is not main and not p.equals(main)]
        self._replace(uid, geometry=_clean(shapely.union_all([reshaped, *others]) if others else reshaped))

    def merge(self, uids: Sequence[str]) -> str:
        """Union of several regions into the first one (its class, name and id); returns its uid."""
        chosen = [self.get(u) for u in uids]
        if len(chosen) < 2 or any(a.kind != "region" for a in chosen):
            raise ValueError("merge needs two or more regions")
        self._unlocked(uids)
        first = chosen[0]
        merged = replace(first, geometry=_clean(shapely.union_all([a.geometry for a in chosen])))
        drop = {a.uid for a in chosen[1:]}
        self._commit(merged if a.uid == first.uid else a for a in self.items if a.uid not in drop)
        return first.uid

    def subtract(self, uid: str, cutters: Sequence[str]) -> None:
        """Cut the regions ``cutters`` out of region ``uid`` (the cutters stay); an annotation cut away
        entirely is removed."""
        a = self.get(uid)
        self._unlocked([uid])
        cut = shapely.union_all([self.get(c).geometry for c in cutters])
        rest = polygonal(shapely.difference(a.geometry, cut))
        if rest.is_empty:
            self._commit(x for x in self.items if x.uid != uid)
        else:
            self._replace(uid, geometry=rest)

    def _replace(self, uid: str, **changes: Any) -> str:
        self.get(uid)
        self._commit(replace(a, **changes) if a.uid == uid else a for a in self.items)
        return uid

    def add_class(self, name: str, color: tuple[int, int, int]) -> None:
        if all(c.name != name for c in self.classes):
            self.classes.append(AnnotationClass(name, tuple(int(v) for v in color)))

    # ---- undo / redo -----------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.items)
        self.items = self._undo.pop()
        self.changed.emit()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.items)
        self.items = self._redo.pop()
        self.changed.emit()
        return True

    # ---- layers for the rest of Evident ----------------------------------------------------
    def annotations(self) -> list[Annotation]:
        """The regions as :class:`core.data.annotation.Annotation` (what localisation, selection,
        training and the region layers consume); point sets are left out (no area)."""
        return [Annotation(a.geometry, a.classification, a.name, dict(a.properties))
                for a in self.items if a.kind == "region"]

    def by_class(self) -> dict[str | None, list[DrawnAnnotation]]:
        out: dict[str | None, list[DrawnAnnotation]] = {}
        for a in self.items:
            out.setdefault(a.classification, []).append(a)
        return out

    # ---- files -----------------------------------------------------------------------------
    def to_geojson(self) -> dict:
        """The FeatureCollection QuPath writes (see the module docstring)."""
        feats = []
        for a in self.items:
            props = {k: v for k, v in a.properties.items() if k not in ("classification", "name", "objectType")}
            kind = a.properties.get("objectType")
            props["objectType"] = kind if kind in _OBJECT_TYPES else "annotation"
            if a.name:
                props["name"] = a.name
            if a.classification is not None:
                props["classification"] = {"name": a.classification, "color": list(self.color(a.classification))}
            feats.append({"type": "Feature", "id": a.uid, "geometry": mapping(a.geometry), "properties": props})
        return {"type": "FeatureCollection", "features": feats}

    def save(self, path: str | os.PathLike) -> Path:
        """Write QuPath GeoJSON atomically; an unwritable folder raises :class:`EvidentError`."""
        p = Path(path)
        try:
            atomic_write_text(p, json.dumps(self.to_geojson()) + "\n")
        except OSError as exc:
            raise EvidentError(p, f"cannot write the annotations ({exc.strerror or exc})") from None
        self.saved_items = self.items
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> AnnotationDocument:
        """Read QuPath GeoJSON (regions, points, class colours, ids kept) or ASAP/ImageScope XML."""
        p = Path(path)
        if p.suffix.lower() == ".xml":
            from core.data.annotation_xml import read_asap_xml

            doc = cls(DrawnAnnotation(a.geometry, a.classification, a.name, properties=dict(a.properties))
                      for a in read_asap_xml(p))
        else:
            doc = cls(_read_features(p))
        for a in doc.items:
            colour = a.properties.get("classification_color")
            if a.classification is not None:
                doc.add_class(a.classification, tuple(colour) if colour else _derived_color(a.classification))
        doc.items = tuple(replace(a, properties={k: v for k, v in a.properties.items() if k != "classification_color"})
                          for a in doc.items)
        doc.saved_items = doc.items
        return doc


def _read_features(p: Path) -> list[DrawnAnnotation]:
    """The features of a QuPath export: a FeatureCollection (QuPath's default), or — "Export as
    FeatureCollection" unticked — a bare list of features, or one Feature when one object was
    exported (qupath-core ``PathIO.exportObjectsAsGeoJSON``). Ids that are not UUIDs (QuPath 0.2
    wrote the object type, e.g. ``"PathAnnotationObject"``, as the id) or repeat get new ones; the
    class colour is ``classification.color`` ``[r, g, b]`` or QuPath 0.2's packed ``colorRGB``."""
    from core.data.annotations import parse_feature, read_geojson

    doc = read_json(p, "annotation file", encoding="utf-8-sig")
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    else:
        features = doc
    if not isinstance(features, list):  # a bare geometry, or not GeoJSON: the region reader's job (and error)
        return [DrawnAnnotation(a.geometry, a.classification, a.name, properties=dict(a.properties))
                for a in read_geojson(p)]
    out, seen = [], set()
    for i, feat in enumerate(features):
        region = parse_feature(p, i, feat)  # validates the feature (one clear error) and repairs a region
        geom = feat.get("geometry")
        if not isinstance(geom, dict):
            continue
        props = dict(feat.get("properties") or {})
        cls_obj = props.pop("classification", None)
        name = props.pop("name", None)
        classification, colour = _classification(cls_obj)
        if colour is not None:
            props["classification_color"] = colour
        uid = _uuid_or_none(feat.get("id"))
        if uid is None or uid in seen:
            uid = str(uuid.uuid4())
        seen.add(uid)
        kind = geom.get("type")
        if kind in ("Point", "MultiPoint"):
            try:
                g = shape(geom)
            except (ValueError, TypeError, AttributeError, IndexError) as exc:
                raise EvidentError(p, f"feature {i} has a malformed {kind} ({exc})") from None
            g = g if g.geom_type == "MultiPoint" else MultiPoint([g])
            out.append(DrawnAnnotation(g, classification, None if name is None else str(name), uid, props))
        elif region is not None:
            out.append(DrawnAnnotation(region.geometry, classification if classification is not None
                                       else region.classification, region.name, uid, props))
    return out


def _classification(obj: Any) -> tuple[str | None, list[int] | None]:
    """QuPath's ``classification``: ``{"name", "color": [r, g, b]}`` (0.3+), ``{"names": [...]}`` for a
    derived class (shown as QuPath does, ``"Tumor: Positive"``), ``{"name", "colorRGB": packed int}``
    (0.2), or a bare string; returns the name and the colour when given."""
    if isinstance(obj, str):
        return obj, None
    if not isinstance(obj, dict):
        return None, None
    name = obj.get("name")
    if name is None and isinstance(obj.get("names"), list):
        name = ": ".join(str(n) for n in obj["names"])
    colour = obj.get("color")
    if isinstance(colour, list) and len(colour) == 3:
        colour = [int(v) & 255 for v in colour]
    elif isinstance(obj.get("colorRGB"), int):
        packed = obj["colorRGB"]
        colour = [(packed >> 16) & 255, (packed >> 8) & 255, packed & 255]
    else:
        colour = None
    return (None if name is None else str(name)), colour


def _uuid_or_none(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def _clean(geometry: Any) -> Any:
    if geometry.geom_type in ("Point", "MultiPoint"):
        return geometry if geometry.geom_type == "MultiPoint" else MultiPoint([geometry])
    g = polygonal(geometry)
    if g.is_empty or g.area <= 0:
        raise ValueError("the region has no area")
    return g


def _main_polygon(geometry: Any) -> Polygon:
    if geometry.geom_type == "Polygon":
        return geometry
    return max(shapely.get_parts(geometry), key=lambda g: g.area)


def _derived_color(name: str) -> tuple[int, int, int]:
    import hashlib

    d = hashlib.sha256(name.encode("utf-8")).digest()
    return (d[0], d[1], d[2])
