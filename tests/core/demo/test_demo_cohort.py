"""The demo cohort builder on a tiny configuration (4 slides of 8 x 8 cells) from the real CMU region."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.demo.cohort import CohortConfig, DemoCohort, build_cohort, read_truth
from core.errors import EvidentError

TINY = CohortConfig(n_slides=4, grid=(8, 8), seed=3)


@pytest.fixture(scope="module")
def tiny(cmu_slide, tmp_path_factory) -> DemoCohort:
    return build_cohort(tmp_path_factory.mktemp("cohort"), TINY, source=cmu_slide, progress=False)


def _grid_coords(rows: int, cols: int, p: int = 256) -> np.ndarray:
    ys, xs = np.mgrid[0:rows, 0:cols]
    return np.stack([xs.ravel() * p, ys.ravel() * p], axis=1).astype(np.int64)  # (rows*cols, 2)


def test_slides_open_with_openslide_with_pyramid_and_mpp(tiny):
    import openslide

    assert tiny.rebuilt and len(tiny.slide_ids) == 4
    for sid in tiny.slide_ids:
        with openslide.OpenSlide(str(tiny.slide_path(sid))) as s:
            assert s.dimensions == (8 * 256, 8 * 256)
            assert s.level_count > 1
            assert s.level_dimensions[1] == (1024, 1024)
            assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.499, abs=1e-3)
            region = np.asarray(s.read_region((0, 0), s.level_count - 1, s.level_dimensions[-1]))
            assert region[..., 3].min() == 255  # every tile decodes


def test_manifest_labels_match_the_placed_epidermis_clusters(tiny):
    from core.data.manifest import read_manifest

    man = read_manifest(tiny.manifest)
    assert man.task == "classification" and man.classes == ("negative", "positive")
    truth = read_truth(tiny.truth)
    assert sorted(r.label for r in man.rows) == ["negative", "negative", "positive", "positive"]
    for row in man.rows:
        assert (man.path.parent / row.slide_path).exists()
        assert (row.label == "positive") == (len(truth[row.slide_id]) > 0)
        assert row.fold is not None
    cells = json.loads(tiny.truth.read_text())["slides"]
    for doc in cells.values():
        grid = np.array([list(r) for r in doc["cells"]])
        assert grid.shape == (8, 8)
        assert (grid[0] == "B").all() and (grid[-1] == "B").all()  # background margin
        assert ((grid == "E").sum() > 0) == (doc["label"] == "positive")


def test_evidence_cluster_is_contiguous(tiny):
    from scipy import ndimage

    doc = json.loads(tiny.truth.read_text())["slides"]
    for sid in tiny.slide_ids:
        ev = np.array([list(r) for r in doc[sid]["cells"]]) == "E"
        if ev.any():
            _, n = ndimage.label(ev)  # 4-connectivity
            assert n == 1 and ev.sum() >= 2


def test_annotations_round_trip_and_cover_exactly_the_epidermis_cells(tiny):
    from core.data.annotations import patch_labels, read_geojson

    truth = read_truth(tiny.truth)
    coords = _grid_coords(8, 8)
    for sid in tiny.slide_ids:
        anns = read_geojson(tiny.annotation_path(sid))
        expected = np.zeros(len(coords), dtype=bool)
        for x, y in truth[sid]:
            expected[(coords[:, 0] == x) & (coords[:, 1] == y)] = True
        if not expected.any():
            assert anns == []
            continue
        assert [a.classification for a in anns] == ["Epidermis"]
        labels = patch_labels(coords, 256, anns)
        np.testing.assert_array_equal(labels, expected)
        assert anns[0].geometry.area == pytest.approx(expected.sum() * 256 * 256)


def test_the_pixels_show_the_planned_tissue(tiny):
    """Evidence cells read back from the TIFF are haematoxylin-rich, dermis cells eosin-dominated."""
    from core.demo.patch_classes import catalog_from_image
    from core.slide.reader import open_slide

    doc = json.loads(tiny.truth.read_text())["slides"]
    for sid in tiny.slide_ids:
        with open_slide(tiny.slide_path(sid)) as r:
            rgb = r.read_region((0, 0), 0, r.dimensions)[..., :3].copy()
        cat = catalog_from_image(rgb, 256, 256)  # one window per cell, row-major
        grid = np.array([list(row) for row in doc[sid]["cells"]]).ravel()
        assert (cat.tissue[grid == "B"] < 0.15).all()
        assert (cat.h[grid == "D"] < 0.23).all()
        if (grid == "E").any():
            assert (cat.h[grid == "E"] > 0.35).all()


def test_deterministic_by_seed_and_cached(tiny, cmu_slide, tmp_path):
    again = build_cohort(tmp_path / "a", TINY, source=cmu_slide, progress=False)
    assert again.truth.read_bytes() == tiny.truth.read_bytes()
    for sid in tiny.slide_ids:
        assert again.slide_path(sid).read_bytes() == tiny.slide_path(sid).read_bytes()
        assert again.annotation_path(sid).read_bytes() == tiny.annotation_path(sid).read_bytes()
    mtime = again.slide_path(again.slide_ids[0]).stat().st_mtime_ns
    cached = build_cohort(tmp_path / "a", TINY, source=cmu_slide, progress=False)
    assert not cached.rebuilt and cached.labels == again.labels
    assert cached.slide_path(cached.slide_ids[0]).stat().st_mtime_ns == mtime
    other = build_cohort(tmp_path / "a", CohortConfig(n_slides=4, grid=(8, 8), seed=4), source=cmu_slide,
                         progress=False)
    assert other.rebuilt and other.truth.read_bytes() != tiny.truth.read_bytes()


def test_missing_source_is_one_clear_error(tmp_path):
    with pytest.raises(EvidentError, match="source slide not found") as err:
        build_cohort(tmp_path / "out", TINY, source=tmp_path / "nope.svs", progress=False)
    assert "nope.svs" in str(err.value)
    assert not (tmp_path / "out" / "cohort.json").exists()


def test_source_without_epidermis_is_refused_and_leaves_no_cohort(tmp_path):
    from PIL import Image

    src = tmp_path / "pink.png"
    rng = np.random.default_rng(0)
    img = np.full((600, 600, 3), (235, 140, 190), dtype=np.uint8)  # eosin-pink only, no nuclei
    img[:, :300] = 245  # glass
    img = np.clip(img.astype(int) + rng.integers(-5, 6, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(src)
    before = src.read_bytes()
    with pytest.raises(EvidentError, match="no epidermis patch") as err:
        build_cohort(tmp_path / "out", TINY, source=src, progress=False)
    assert str(src) in str(err.value)
    assert src.read_bytes() == before
    assert not (tmp_path / "out" / "cohort.json").exists()
    assert not list((tmp_path / "out").glob("slides/*"))


def test_read_truth_rejects_other_files(tmp_path):
    bad = tmp_path / "truth.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(EvidentError, match="not a demo truth file"):
        read_truth(bad)
    with pytest.raises(EvidentError, match="not found"):
        read_truth(tmp_path / "missing.json")


def test_unwritable_workspace_is_one_clear_error(tmp_path, cmu_slide):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EvidentError) as err:
        build_cohort(blocker / "cohort", TINY, source=cmu_slide, progress=False)
    assert "file" in str(err.value)
    assert isinstance(Path(err.value.path), Path)
