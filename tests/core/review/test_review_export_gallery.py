"""GeoJSON / CSV / figure exports and the evidence gallery on the real CMU slide."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import shapely

from core.data.annotations import patch_labels, read_geojson
from core.errors import EvidentError
from core.review.export import (
    nice_length_um,
    patch_regions,
    render_figure,
    threshold_indices,
    write_csv,
    write_patch_geojson,
)
from core.review.gallery import (
    gallery_items,
    read_thumbnail,
    read_thumbnails,
    write_contact_sheet,
)
from core.review.layers import scalar_layer
from core.slide.reader import open_slide


def test_patch_regions_merge_adjacent_squares():
    coords = np.array([[0, 0], [100, 0], [0, 100], [500, 500], [900, 0]])
    regions = patch_regions(coords, 100, np.array([0, 1, 2, 3]))
    assert len(regions) == 2
    areas = sorted(poly.area for poly, _ in regions)
    assert areas == [10000.0, 30000.0]
    members = sorted(m.tolist() for _, m in regions)
    assert members == [[0, 1, 2], [3]]
    assert patch_regions(coords, 100, np.array([], np.int64)) == []


def test_geojson_round_trip_through_annotations(tmp_path):
    coords = np.array([[0, 0], [256, 0], [512, 512], [1024, 1024]], dtype=np.int64)
    scores = np.array([0.9, 0.7, 0.2, np.nan])
    out = tmp_path / "gce.geojson"
    n = write_patch_geojson(out, coords, 256, np.array([0, 1, 2]), classification="GCE subset", scores=scores)
    anns = read_geojson(out)
    assert n == 2 and len(anns) == 2 and {a.classification for a in anns} == {"GCE subset"}
    big = max(anns, key=lambda a: a.geometry.area)
    assert big.geometry.equals(shapely.box(0, 0, 512, 256))
    assert big.properties["n_patches"] == 2 and big.properties["score_mean"] == pytest.approx(0.8)
    assert big.properties["score_max"] == pytest.approx(0.9) and big.properties["objectType"] == "annotation"
    # the exported regions label exactly the exported patches
    labels = patch_labels(coords, 256, [a.geometry for a in anns])
    assert labels.tolist() == [True, True, True, False]


def test_threshold_indices_uses_the_layer_normalisation():
    layer = scalar_layer("attention", np.array([0.0, 1.0, 2.0, 3.0, 4.0]))  # rank: [0, .25, .5, .75, 1]
    assert threshold_indices(layer, 0.75).tolist() == [3, 4]
    assert threshold_indices(layer.with_settings(norm="manual", vmin=0.0, vmax=8.0), 0.4).tolist() == [4]


def test_csv_and_unwritable_folder(tmp_path, monkeypatch):
    p = write_csv(tmp_path / "n.csv", [{"slide": "a", "phi": 0.123456789}, {"slide": "b", "flag": True}])
    rows = list(csv.DictReader(p.read_text().splitlines()))
    assert rows[0] == {"slide": "a", "phi": "0.123457", "flag": ""} and rows[1]["flag"] == "True"
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(EvidentError, match="not writable"):
        write_csv(tmp_path / "m.csv", [{"a": 1}])
    assert not (tmp_path / "m.csv").exists()


def test_figure_png_has_requested_width(cmu_slide, tmp_path):
    from PIL import Image

    from core.review.normalise import colormap_lut

    with open_slide(cmu_slide) as r:
        overlay = np.zeros((4, 4, 4), np.uint8)
        overlay[..., 0], overlay[..., 3] = 255, 128
        p = render_figure(tmp_path / "fig.png", r, (0, 0, 2000, 1000), overlay=overlay, overlay_rect=(0, 0, 1024, 1024),
                          lut=colormap_lut("viridis"), colorbar_label="attention", colorbar_ends=("low", "high"),
                          width_px=800, title="CMU-1")
    im = np.asarray(Image.open(p).convert("RGB"))
    assert im.shape[1] == 800 and im.shape[0] == (800 - 160) // 2  # exact width; the colorbar strip is inside it
    assert im[50, 50, 0] > im[50, 50, 1] + 40  # the red overlay tints the top-left region
    assert nice_length_um(730) == 500 and nice_length_um(0) == 0


def test_gallery_items_thumbnails_and_sheet(cmu_slide, tmp_path):
    v = np.array([0.5, np.nan, 0.9, 0.1, 0.7])
    coords = np.array([[0, 0], [256, 0], [512, 0], [768, 0], [1024, 256]])
    top = gallery_items(v, coords, 256, 2)
    assert [(i.index, i.rank, i.score) for i in top] == [(2, 1, 0.9), (4, 2, 0.7)]
    bottom = gallery_items(v, coords, 256, 2, "bottom")
    assert [(i.index, i.rank) for i in bottom] == [(3, 4), (0, 3)]
    assert top[1].rect == (1024, 256, 256, 256) and top[1].centre == (1152.0, 384.0)
    with open_slide(cmu_slide) as r:
        thumb = read_thumbnail(r, top[1].rect, 64)
        ref = r.read_region((1024, 256), 0, (256, 256))[::4, ::4, :3]
        thumbs = read_thumbnails(r, top, 64)
    assert thumb.shape == (64, 64, 3) and thumb.dtype == np.uint8
    np.testing.assert_array_equal(thumb, ref)  # the patch's own pixels, nearest-neighbour
    p = write_contact_sheet(tmp_path / "sheet.png", thumbs, top, title="top-2 attention", cols=2)
    assert p.stat().st_size > 1000
    with pytest.raises(EvidentError, match="empty"):
        write_contact_sheet(tmp_path / "e.png", [], [])
