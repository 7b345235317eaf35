"""Region layers from files: read-only on the slide, turned into editable annotations on request.

A GeoJSON / ASAP XML opened with the slide (File › Open, drag and drop, the demo, the cohort
browser, a session file) becomes one region layer ``regions: <class>`` per class
(:func:`core.review.loading.read_annotation_layers`): a reference (a colleague's or the data set's
ground truth, the one the localisation metrics compare maps against) that is shown, never changed,
so reopening the file never doubles it. :class:`LayerEditing` turns one into annotations of the
slide's document ("Edit as annotations", docs/annotate.md "Region layers from files"): one
annotation per polygon (holes kept) with the layer's class, added in ONE undoable edit, and the layer
leaves the session. Undo of that edit puts the layer back where it was, redo takes it away again.
The converted annotations carry the property :data:`SOURCE_PROPERTY` (``"<file>#<layer name>"``), so
a slide reopened with the same file keeps its edited copy and drops the read-only one.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely

from core.review.annotation_doc import AnnotationDocument, DrawnAnnotation
from core.review.loading import REGIONS_PREFIX, file_region_layers

__all__ = ["LAYER_PREFIX", "SOURCE_PROPERTY", "LayerEditing", "layer_class", "region_annotations"]

LAYER_PREFIX = "drawn: "  # the region layers the annotation document keeps in the session (one per class)
#: property of an annotation converted from a file's region layer: ``"<file>#<layer name>"``
SOURCE_PROPERTY = "evidentEditedFrom"


def layer_class(name: str) -> str | None:
    """The annotation class of a region layer named ``regions: <class>`` / ``drawn: <class>``
    (``regions: annotations`` and ``drawn: unclassified`` are unclassified)."""
    for prefix in (REGIONS_PREFIX, LAYER_PREFIX):
        if name.startswith(prefix):
            cls = name[len(prefix):]
            return None if cls in ("annotations", "unclassified") else cls
    return name


def region_annotations(geometry, cls: str | None, properties: dict | None = None) -> list[DrawnAnnotation]:
    """One annotation per polygon of ``geometry`` (a shapely (Multi)Polygon, level-0 px), class ``cls``."""
    return [DrawnAnnotation(part, cls, properties=dict(properties or {}))
            for part in shapely.get_parts(geometry) if part.area > 0]


def _source_key(layer) -> str:
    return f"{layer.source}#{layer.name}"


@dataclass
class _Conversion:
    doc: AnnotationDocument
    layer: object      # the RegionLayer taken out of the session
    index: int         # its place in the session's layers (0 = bottom)
    before: tuple      # the document's items before / after the conversion (undo snapshots)
    after: tuple


class LayerEditing:
    """Converts the session's read-only region layers into annotations and follows undo/redo."""

    def __init__(self, session) -> None:
        self.session = session
        self._done: list[_Conversion] = []

    def read_only(self) -> list:
        """The session's region layers from files (shown read-only)."""
        return file_region_layers(self.session.layers)

    def read_only_at(self, x: float, y: float) -> list:
        """The visible read-only region layers whose polygons contain level-0 ``(x, y)``."""
        return [x_ for x_ in self.read_only() if x_.settings.visible and x_.geometry.covers(shapely.Point(x, y))]

    def convert(self, doc: AnnotationDocument, name: str) -> list[str]:
        """Turn the read-only layer ``name`` into annotations of ``doc`` (one undoable edit) and take
        it out of the session; returns the new annotations' uids. ``ValueError`` with the reason."""
        layer = next((x for x in self.read_only() if x.name == name), None)
        if layer is None:
            raise ValueError(f"'{name}' is not a region layer read from a file")
        cls = layer_class(name)
        items = region_annotations(layer.geometry, cls, {SOURCE_PROPERTY: _source_key(layer)})
        if not items:
            raise ValueError(f"'{name}' has no polygon with an area")
        if cls is not None:
            doc.add_class(cls, tuple(layer.settings.color))
        index = [x.name for x in self.session.layers].index(name)
        before = doc.items
        doc.extend(items)
        self._done.append(_Conversion(doc, layer, index, before, doc.items))
        self.session.remove_layer(name)
        return [a.uid for a in items]

    def follow(self, doc: AnnotationDocument) -> None:
        """After an undo or redo of ``doc``: a conversion undone puts its layer back, redone removes it."""
        names = {x.name for x in self.session.layers}
        for c in self._done:
            if c.doc is not doc:
                continue
            if doc.items is c.before and c.layer.name not in names:
                self.session.add_layer(c.layer)
                self.session.move_layer(c.layer.name, c.index)
            elif doc.items is c.after and c.layer.name in names:
                self.session.remove_layer(c.layer.name)

    def drop_converted(self, doc: AnnotationDocument | None) -> list[str]:
        """Remove the read-only layers that ``doc`` already holds as annotations (the slide was
        reopened with the same file); returns their names."""
        if doc is None:
            return []
        edited = {a.properties.get(SOURCE_PROPERTY) for a in doc.items}
        gone = [x.name for x in self.read_only() if _source_key(x) in edited]
        for name in gone:
            self.session.remove_layer(name)
        return gone
