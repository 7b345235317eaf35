"""QuPath GeoJSON read/write and ASAP / ImageScope XML read."""

from __future__ import annotations

import hashlib
import json

import pytest
from shapely.geometry import Polygon, box

from core.data.annotations import Annotation, read_annotations, read_asap_xml, read_geojson, write_geojson
from core.errors import EvidentError

SQUARE_WITH_HOLE = {"type": "Polygon", "coordinates": [
    [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]],
    [[40, 40], [60, 40], [60, 60], [40, 60], [40, 40]],
]}
TWO_SQUARES = {"type": "MultiPolygon", "coordinates": [
    [[[200, 0], [210, 0], [210, 10], [200, 10], [200, 0]]],
    [[[300, 0], [320, 0], [320, 20], [300, 20], [300, 0]]],
]}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}


def _feature(geom, cls=None, **props):
    if cls is not None:
        props["classification"] = {"name": cls, "color": [1, 2, 3]}
    return {"type": "Feature", "id": "x", "geometry": geom, "properties": {"objectType": "annotation", **props}}


def _write(tmp_path, obj, name="a.geojson"):
    p = tmp_path / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return p


def test_qupath_feature_collection(tmp_path):
    doc = {"type": "FeatureCollection", "features": [
        _feature(SQUARE_WITH_HOLE, "Tumor", name="T1", isLocked=False),
        _feature(TWO_SQUARES, "Stroma"),
        _feature({"type": "Point", "coordinates": [5, 5]}, "Tumor"),
        _feature(BOWTIE),
        {"type": "Feature", "geometry": None, "properties": {}},
    ]}
    anns = read_geojson(_write(tmp_path, doc))
    assert [a.classification for a in anns] == ["Tumor", "Stroma", None]
    assert anns[0].name == "T1" and anns[0].properties["isLocked"] is False
    assert anns[0].geometry.area == pytest.approx(100 * 100 - 20 * 20)  # hole kept
    assert anns[1].geometry.geom_type == "MultiPolygon" and anns[1].geometry.area == pytest.approx(100 + 400)
    bowtie = anns[2].geometry
    assert bowtie.is_valid and bowtie.area == pytest.approx(50.0)  # two triangles after make_valid


@pytest.mark.parametrize("doc", [
    _feature(SQUARE_WITH_HOLE, "Tumor"),
    [_feature(SQUARE_WITH_HOLE, "Tumor")],
    SQUARE_WITH_HOLE,
])
def test_single_feature_bare_list_and_bare_geometry(tmp_path, doc):
    anns = read_geojson(_write(tmp_path, doc))
    assert len(anns) == 1 and anns[0].geometry.area == pytest.approx(9600)


def test_write_is_qupath_compatible_and_round_trips(tmp_path):
    anns = [Annotation(Polygon(SQUARE_WITH_HOLE["coordinates"][0], [SQUARE_WITH_HOLE["coordinates"][1]]),
                       classification="Tumor", name="region 1", properties={"score": 0.75}),
            Annotation(box(5, 5, 9, 9)), Annotation(Polygon())]
    out = tmp_path / "out" / "w.geojson"
    write_geojson(out, anns)
    doc = json.loads(out.read_text())
    f0 = doc["features"][0]
    assert doc["type"] == "FeatureCollection" and f0["type"] == "Feature"
    assert len(doc["features"]) == 2  # the empty geometry is left out
    assert f0["properties"]["objectType"] == "annotation" and f0["properties"]["score"] == 0.75
    cls = f0["properties"]["classification"]
    assert cls["name"] == "Tumor" and len(cls["color"]) == 3 and all(isinstance(c, int) for c in cls["color"])
    assert "classification" not in doc["features"][1]["properties"]
    back = read_geojson(out)
    assert back[0].geometry.equals(anns[0].geometry) and back[1].geometry.equals(anns[1].geometry)
    assert (back[0].classification, back[0].name, back[1].classification) == ("Tumor", "region 1", None)
    # a colour read from a file is written back unchanged
    again = tmp_path / "again.geojson"
    write_geojson(again, read_geojson(_write(tmp_path, _feature(SQUARE_WITH_HOLE, "Tumor"), "c.geojson")))
    assert json.loads(again.read_text())["features"][0]["properties"]["classification"]["color"] == [1, 2, 3]


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON \\(line 1"),
    ('{"type": "Topology"}', "not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": 3}', "'features' is not a list"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}', "feature 0 has no geometry"),
    ('[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}]',
     "feature 0 has a malformed Polygon"),
    ('[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "abc"}}]',
     "feature 0 has a malformed Polygon"),
    ('[7]', "feature 0 is not a JSON object"),
    ('[{"type": "Feature", "geometry": [1, 2]}]', "feature 0 has a malformed geometry"),
])
def test_malformed_geojson_names_the_file(tmp_path, text, message):
    p = _write(tmp_path, text, "bad.geojson")
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    with pytest.raises(EvidentError, match=message) as err:
        read_geojson(p)
    assert err.value.path == str(p)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before


ASAP = """<?xml version="1.0"?>
<ASAP_Annotations>
  <Annotations>
    <Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="tumor" Color="#F4FA58">
      <Coordinates>
        <Coordinate Order="2" X="100" Y="100"/>
        <Coordinate Order="0" X="0" Y="0"/>
        <Coordinate Order="3" X="0" Y="100"/>
        <Coordinate Order="1" X="100" Y="0"/>
      </Coordinates>
    </Annotation>
    <Annotation Name="dot" Type="Dot" PartOfGroup="None">
      <Coordinates><Coordinate Order="0" X="5" Y="5"/></Coordinates>
    </Annotation>
    <Annotation Name="Annotation 2" Type="Rectangle" PartOfGroup="None">
      <Coordinates><Coordinate Order="0" X="200" Y="0"/><Coordinate Order="1" X="210" Y="0"/>
      <Coordinate Order="2" X="210" Y="10"/><Coordinate Order="3" X="200" Y="10"/></Coordinates>
    </Annotation>
  </Annotations>
  <AnnotationGroups><Group Name="tumor" PartOfGroup="None" Color="#64FE2E"/></AnnotationGroups>
</ASAP_Annotations>
"""

IMAGESCOPE = """<Annotations MicronsPerPixel="0.25">
  <Annotation Id="1" Name="Tumor"><Regions>
    <Region Id="1" Type="0" Text="outer" NegativeROA="0"><Vertices>
      <Vertex X="0" Y="0" Z="0"/><Vertex X="100" Y="0" Z="0"/>
      <Vertex X="100" Y="100" Z="0"/><Vertex X="0" Y="100" Z="0"/>
    </Vertices></Region>
    <Region Id="2" Type="1" NegativeROA="1"><Vertices><Vertex X="40" Y="40"/><Vertex X="60" Y="60"/></Vertices></Region>
  </Regions></Annotation>
  <Annotation Id="2" Name=""><Regions>
    <Region Id="3" Type="2"><Vertices><Vertex X="200" Y="0"/><Vertex X="220" Y="10"/></Vertices></Region>
  </Regions></Annotation>
</Annotations>
"""


def test_asap_xml(tmp_path):
    anns = read_asap_xml(_write(tmp_path, ASAP, "a.xml"))
    assert [(a.classification, a.name) for a in anns] == [("tumor", "Annotation 0"), (None, "Annotation 2")]
    assert anns[0].geometry.equals(box(0, 0, 100, 100))  # vertices ordered by Order, not by position
    assert anns[1].geometry.area == pytest.approx(100)


def test_imagescope_xml_with_negative_region_and_ellipse(tmp_path):
    anns = read_annotations(_write(tmp_path, IMAGESCOPE, "s.xml"))
    assert [(a.classification, a.name) for a in anns] == [("Tumor", "outer"), (None, None)]
    assert anns[0].geometry.area == pytest.approx(100 * 100 - 20 * 20)
    assert anns[1].geometry.area == pytest.approx(3.14159 * 10 * 5, rel=0.01)


@pytest.mark.parametrize("text, message", [
    ("<ASAP_Annotations><Annotations>", "malformed XML"),
    ("<svg/>", "not an ASAP or ImageScope annotation file \\(root element <svg>\\)"),
    ('<Annotations><Annotation><Regions><Region><Vertices><Vertex X="a" Y="1"/></Vertices></Region></Regions>'
     "</Annotation></Annotations>", "annotation 0, region 0: <Vertex> needs numeric X and Y"),
    ('<ASAP_Annotations><Annotations><Annotation Type="Polygon"><Coordinates><Coordinate Order="0" X="1"/>'
     "</Coordinates></Annotation></Annotations></ASAP_Annotations>", "<Coordinate> needs numeric X and Y"),
])
def test_malformed_xml_names_the_file(tmp_path, text, message):
    p = _write(tmp_path, text, "bad.xml")
    with pytest.raises(EvidentError, match=message) as err:
        read_asap_xml(p)
    assert err.value.path == str(p)


def test_missing_annotation_files(tmp_path):
    with pytest.raises(EvidentError, match="annotation file not found"):
        read_geojson(tmp_path / "nope.geojson")
    with pytest.raises(EvidentError, match="annotation file not found"):
        read_asap_xml(tmp_path / "nope.xml")
