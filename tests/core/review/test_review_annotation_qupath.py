"""QuPath GeoJSON as QuPath really writes it (qupath-core ``PathIO.exportObjectsAsGeoJSON`` and
``PathObjectTypeAdapters``): the export options, the 0.2 format, derived classes, locked objects,
detections and measurements (docs/annotate.md)."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import mapping

from core.review.annotation_doc import AnnotationDocument

UID = "6f1c2b0e-3d4a-4e8b-9c1d-2a3b4c5d6e7f"


def feature(geom, props, fid=UID):
    out = {"type": "Feature", "geometry": mapping(geom), "properties": props}
    if fid is not None:
        out["id"] = fid
    return out


TUMOUR = {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}}
POINTS = {"objectType": "annotation", "classification": {"name": "Immune cells", "color": [160, 90, 160]}}


@pytest.mark.parametrize("layout", ["collection", "bare list", "single feature"])
def test_every_export_layout_keeps_points_ids_and_colours(tmp_path, layout):
    """"Export as FeatureCollection" ticked (the default), unticked (a bare list), or one object (one
    Feature): the same annotations, point sets and class colours come back."""
    feats = [feature(shapely.box(0, 0, 10, 10), TUMOUR),
             feature(shapely.MultiPoint([(1, 1), (5, 5)]), POINTS, "7a1c2b0e-3d4a-4e8b-9c1d-2a3b4c5d6e7f")]
    if layout == "single feature":
        feats = feats[1:]
    doc = {"collection": {"type": "FeatureCollection", "features": feats}, "bare list": feats,
           "single feature": feats[0] if feats else None}[layout]
    p = tmp_path / "export.geojson"
    p.write_text(json.dumps(doc))
    loaded = AnnotationDocument.load(p)
    assert [a.uid for a in loaded.items] == [f["id"] for f in feats]
    assert loaded.items[-1].kind == "points" and len(loaded.items[-1].geometry.geoms) == 2
    assert loaded.color("Immune cells") == (160, 90, 160)


def test_qupath_02_ids_colours_and_derived_classes(tmp_path):
    """QuPath 0.2 wrote the object type as every feature's id and the class colour as a packed
    ``colorRGB``; a derived class has ``names``. Ids must stay unique, so each gets its own."""
    packed = -(1 << 24) + (12 << 16) + (34 << 8) + 56  # ARGB as Java's signed int
    feats = [feature(shapely.box(0, 0, 10, 10), {"classification": {"name": "Lymph", "colorRGB": packed}},
                     "PathAnnotationObject"),
             feature(shapely.box(20, 0, 30, 10), {"classification": {"names": ["Tumor", "Positive"],
                                                                      "color": [250, 62, 62]}},
                     "PathAnnotationObject"),
             feature(shapely.box(40, 0, 50, 10), {}, None)]
    p = tmp_path / "qupath02.json"
    p.write_text(json.dumps(feats))
    doc = AnnotationDocument.load(p)
    assert len({a.uid for a in doc.items}) == 3
    assert doc.color("Lymph") == (12, 34, 56)
    assert doc.items[1].classification == "Tumor: Positive"
    assert [doc.get(a.uid).geometry.bounds[0] for a in doc.items] == [0, 20, 40]  # each id finds its own


def test_locked_detections_and_measurements_round_trip(tmp_path):
    """``isLocked`` is honoured (no move, reshape, merge, subtract) and written only when true;
    ``objectType`` detection stays a detection; measurements and metadata are kept."""
    props = {"objectType": "detection", "isLocked": True, "measurements": {"Area µm^2": 25.0},
             "metadata": {"source": "QuPath 0.5"}, "classification": {"name": "Tumor", "color": [200, 0, 0]}}
    p = tmp_path / "cells.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature(shapely.box(0, 0, 10, 10), props),
        feature(shapely.box(5, 5, 20, 20), TUMOUR, "8a1c2b0e-3d4a-4e8b-9c1d-2a3b4c5d6e7f")]}))
    doc = AnnotationDocument.load(p)
    locked, free = doc.items
    assert locked.locked and not free.locked
    for edit in (lambda: doc.move([locked.uid], 1, 1), lambda: doc.move_vertex(locked.uid, 0, 3, 3),
                 lambda: doc.merge([locked.uid, free.uid]), lambda: doc.subtract(locked.uid, [free.uid]),
                 lambda: doc.set_geometry(locked.uid, shapely.box(0, 0, 1, 1))):
        with pytest.raises(ValueError, match="locked"):
            edit()
    assert doc.get(locked.uid).geometry.equals(locked.geometry) and not doc.can_undo
    doc.set_class([locked.uid], "Stroma")                    # class and name are not the shape
    out = json.loads(json.dumps(doc.to_geojson()))
    f0, f1 = out["features"]
    assert f0["properties"]["objectType"] == "detection" and f0["properties"]["isLocked"] is True
    assert f0["properties"]["measurements"] == {"Area µm^2": 25.0}
    assert f0["properties"]["metadata"] == {"source": "QuPath 0.5"}
    assert "isLocked" not in f1["properties"] and f1["properties"]["objectType"] == "annotation"
    doc.set_locked([locked.uid], False)
    doc.move([locked.uid], 1, 1)
    assert "isLocked" not in doc.to_geojson()["features"][0]["properties"]


def test_a_file_saved_by_the_viewer_feeds_training_masks(tmp_path):
    """``evident train --annotations DIR`` reads what the viewer saves: regions count, point sets
    (no area) are left out, nothing is refused."""
    from types import SimpleNamespace

    import numpy as np

    from core.data.annotations import patch_labels
    from core.train.annotation_masks import annotation_masks

    doc = AnnotationDocument()
    doc.add(shapely.box(0, 0, 250, 120), "Tumor")
    doc.add(shapely.MultiPoint([(900, 900), (950, 950)]), "Immune cells")
    doc.set_locked([doc.items[0].uid], True)
    (tmp_path / "ann").mkdir()
    doc.save(tmp_path / "ann" / "slide_a.geojson")
    coords = np.array([(x, y) for y in range(0, 1024, 128) for x in range(0, 1024, 128)], np.int64)
    masks = annotation_masks([SimpleNamespace(slide_id="slide_a", coords=coords)], tmp_path / "ann")
    expected = patch_labels(coords, 128, [shapely.box(0, 0, 250, 120)], 0.01)
    assert masks["slide_a"].tolist() == np.asarray(expected).tolist() and masks["slide_a"].sum() == 2
