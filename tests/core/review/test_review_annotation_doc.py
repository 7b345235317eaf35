"""Editable annotations (core/review/annotation_doc.py): geometry edits, undo/redo, QuPath GeoJSON."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPoint, Polygon

from core.errors import EvidentError
from core.review.annotation_doc import QUPATH_CLASSES, AnnotationDocument, ellipse, rectangle

#: one feature of each kind exactly as QuPath 0.5 writes them (File > Export objects as GeoJSON,
#: "Pretty JSON" off): a classified polygon with a hole, an unclassified named rectangle, points
QUPATH_EXPORT = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "id": "9a3bd3a6-ef53-4d0f-9a2c-4c4b3c0b7f11",
         "geometry": {"type": "Polygon", "coordinates": [[[100, 100], [500, 100], [500, 400], [100, 400], [100, 100]],
                                                        [[200, 200], [300, 200], [300, 300], [200, 300], [200, 200]]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}}},
        {"type": "Feature", "id": "0e6f3b0e-7f6a-4b36-8a8a-5d9e7d3c2a10",
         "geometry": {"type": "Polygon", "coordinates": [[[600, 50], [700, 50], [700, 150], [600, 150], [600, 50]]]},
         "properties": {"objectType": "annotation", "name": "check this", "isLocked": False}},
        {"type": "Feature", "id": "5c1f0a3e-2b9d-4d8e-9f61-0a7b6c5d4e32",
         "geometry": {"type": "MultiPoint", "coordinates": [[10, 20], [30, 40], [50, 60]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Mitosis", "color": [255, 0, 255]}}},
    ],
}


def test_qupath_classes_are_qupaths_defaults():
    names = [c.name for c in QUPATH_CLASSES]
    assert names[:5] == ["Tumor", "Stroma", "Immune cells", "Necrosis", "Other"]
    assert dict(QUPATH_CLASSES)["Tumor"] == (200, 0, 0) and dict(QUPATH_CLASSES)["Stroma"] == (150, 200, 150)


def test_qupath_export_round_trips(tmp_path):
    src = tmp_path / "qupath.geojson"
    src.write_text(json.dumps(QUPATH_EXPORT))
    doc = AnnotationDocument.load(src)
    assert [a.kind for a in doc.items] == ["region", "region", "points"]
    tumor, named, points = doc.items
    assert tumor.classification == "Tumor" and tumor.geometry.area == 400 * 300 - 100 * 100  # hole kept
    assert named.name == "check this" and named.classification is None and named.properties["isLocked"] is False
    assert points.classification == "Mitosis" and len(points.geometry.geoms) == 3
    assert doc.color("Mitosis") == (255, 0, 255)  # a file's class joins the list with its colour
    assert not doc.modified
    out = doc.save(tmp_path / "again.geojson")
    back = json.loads(out.read_text())
    assert [f["id"] for f in back["features"]] == [f["id"] for f in QUPATH_EXPORT["features"]]
    for mine, theirs in zip(back["features"], QUPATH_EXPORT["features"]):
        assert mine["properties"] == theirs["properties"]
        assert shapely.equals(shapely.geometry.shape(mine["geometry"]), shapely.geometry.shape(theirs["geometry"]))
    again = AnnotationDocument.load(out)
    assert [(a.uid, a.classification, a.name) for a in again.items] == [(a.uid, a.classification, a.name) for a in doc.items]


def test_edits_and_exact_undo_redo():
    doc = AnnotationDocument()
    seen = []
    doc.changed.connect(lambda: seen.append(len(doc)))
    a = doc.add(rectangle(0, 0, 100, 100), "Tumor")
    b = doc.add(rectangle(50, 0, 150, 100), "Stroma")
    c = doc.add(ellipse(0, 0, 200, 100))
    assert abs(doc.get(c).geometry.area - np.pi * 100 * 50) / (np.pi * 5000) < 0.01
    before = doc.items
    merged = doc.merge([a, b])
    assert merged == a and len(doc) == 2 and doc.get(a).geometry.area == pytest.approx(150 * 100)
    doc.subtract(a, [c])
    assert doc.get(a).geometry.area < 150 * 100 and doc.get(c) is not None  # the cutter stays
    doc.move([a], 1000, 0)
    assert doc.get(a).geometry.bounds[0] >= 1000
    doc.set_class([a], "Necrosis")
    assert doc.get(a).classification == "Necrosis"
    for _ in range(4):
        assert doc.undo()
    assert doc.items is before
    assert doc.redo() and len(doc) == 2
    assert seen and doc.can_undo


def test_vertex_editing_reshapes_and_repairs():
    doc = AnnotationDocument()
    u = doc.add(Polygon([(0, 0), (100, 0), (100, 100), (0, 100)]))
    v = doc.vertices(u)
    assert v.shape == (4, 2)
    doc.move_vertex(u, 2, 200, 200)
    assert doc.get(u).geometry.area == pytest.approx(Polygon([(0, 0), (100, 0), (200, 200), (0, 100)]).area)
    doc.move_vertex(u, 1, 0, 200)  # crosses the opposite edge: a bow-tie, repaired to valid parts
    assert doc.get(u).geometry.is_valid and doc.get(u).geometry.area > 0


def test_points_for_counting_and_empty_regions_refused():
    doc = AnnotationDocument()
    p = doc.add_point(None, 5, 5, "Positive")
    doc.add_point(p, 7, 9)
    doc.add_point(p, 9, 9)
    assert doc.stats(p).n_points == 3 and doc.get(p).kind == "points"
    with pytest.raises(ValueError, match="no area"):
        doc.add(rectangle(10, 10, 10, 50))
    assert doc.annotations() == []  # point sets have no area: not regions for localisation/training


def test_stats_area_in_um2_and_patches_inside():
    doc = AnnotationDocument()
    u = doc.add(rectangle(0, 0, 1000, 500))
    coords = np.array([[x, y] for x in range(0, 2000, 256) for y in range(0, 2000, 256)])
    s = doc.stats(u, mpp=0.5, coords=coords, patch_size=256)
    assert s.area_um2 == pytest.approx(1000 * 500 * 0.25)
    centres = coords + 128
    assert s.n_patches == int(((centres[:, 0] < 1000) & (centres[:, 1] < 500)).sum()) > 0


def test_hit_testing_10k_polygons_is_fast_and_topmost():
    rng = np.random.default_rng(0)
    doc = AnnotationDocument()
    xy = rng.uniform(0, 100_000, (10_000, 2))
    doc.items = tuple(AnnotationDocument().items)  # start empty
    from core.review.annotation_doc import DrawnAnnotation

    doc.items = tuple(DrawnAnnotation(shapely.box(x, y, x + 50, y + 50)) for x, y in xy)
    doc.items = (*doc.items, DrawnAnnotation(shapely.box(xy[0, 0], xy[0, 1], xy[0, 0] + 10, xy[0, 1] + 10)))
    assert doc.hit(xy[0, 0] + 5, xy[0, 1] + 5) == doc.items[-1].uid  # the one drawn last is on top
    doc.hit(1, 1)  # builds the index once
    t0 = time.perf_counter()
    for x, y in xy[:200]:
        assert doc.hit(x + 25, y + 25) is not None
    assert (time.perf_counter() - t0) / 200 < 0.002  # < 2 ms per hit test (a linear scan takes ~10-50 ms)
    assert doc.hit(-500, -500) is None


def test_bad_files_give_one_clear_error(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Polygon", '
                   '"coordinates": "nope"}, "properties": {}}]}')
    with pytest.raises(EvidentError, match="bad.geojson.*feature 0"):
        AnnotationDocument.load(bad)
    doc = AnnotationDocument()
    doc.add(rectangle(0, 0, 1, 1))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(EvidentError, match="a-file"):
        doc.save(tmp_path / "a-file" / "x.geojson")


def test_multipoint_survives_and_asap_xml_is_read(tmp_path):
    xml = tmp_path / "asap.xml"
    xml.write_text('<?xml version="1.0"?><ASAP_Annotations><Annotations>'
                   '<Annotation Name="A1" Type="Polygon" PartOfGroup="tumor"><Coordinates>'
                   '<Coordinate Order="0" X="0" Y="0"/><Coordinate Order="1" X="100" Y="0"/>'
                   '<Coordinate Order="2" X="100" Y="100"/></Coordinates></Annotation>'
                   '</Annotations></ASAP_Annotations>')
    doc = AnnotationDocument.load(xml)
    assert len(doc) == 1 and doc.items[0].classification == "tumor" and doc.items[0].geometry.area == 5000
    assert isinstance(MultiPoint([(0, 0)]), MultiPoint)
