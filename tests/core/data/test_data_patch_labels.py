"""patch_labels: a patch is inside when >= min_overlap of its area is covered; fast on 100k patches."""

from __future__ import annotations

import time

import numpy as np
import pytest
from shapely.geometry import Point, Polygon, box

from core.data.annotations import Annotation, patch_labels
from core.data.patch_overlap import patch_overlap_fraction


def test_overlap_threshold_is_on_area():
    coords = np.array([[0, 0], [100, 0], [200, 0], [300, 0], [400, 0]])
    # region covers: patch 0 fully, patch 1 half, patch 2 by 1 % exactly, patch 3 by 0.5 %, patch 4 not at all
    region = [box(0, 0, 150, 100), box(200, 0, 201, 100), box(300, 0, 300.5, 100)]
    frac = patch_overlap_fraction(coords, 100, region)
    np.testing.assert_allclose(frac, [1.0, 0.5, 0.01, 0.005, 0.0])
    assert patch_labels(coords, 100, region).tolist() == [True, True, True, False, False]
    assert patch_labels(coords, 100, region, min_overlap=0.5).tolist() == [True, True, False, False, False]
    assert patch_labels(coords, 100, region, min_overlap=1.0).tolist() == [True, False, False, False, False]


def test_holes_are_excluded_and_overlapping_regions_count_once():
    ring = Polygon([(0, 0), (300, 0), (300, 300), (0, 300)], [[(100, 100), (200, 100), (200, 200), (100, 200)]])
    coords = np.array([[0, 0], [100, 100], [100, 0]])
    assert patch_labels(coords, 100, [ring]).tolist() == [True, False, True]
    regions = [Annotation(box(0, 0, 100, 100)), box(0, 0, 100, 100), box(50, 0, 150, 100)]
    frac = patch_overlap_fraction(coords, 100, regions)
    np.testing.assert_allclose(frac, [1.0, 0.0, 0.5])


def test_no_regions_or_no_patches():
    coords = np.array([[0, 0], [10, 10]])
    assert patch_labels(coords, 10, []).tolist() == [False, False]
    assert patch_labels(np.zeros((0, 2)), 10, [box(0, 0, 5, 5)]).shape == (0,)


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_overlap"):
        patch_labels(np.zeros((1, 2)), 10, [], min_overlap=0)
    with pytest.raises(ValueError, match="patch_size_level0"):
        patch_labels(np.zeros((1, 2)), 0, [])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        patch_labels(np.zeros((3,)), 10, [])


def test_matches_brute_force_on_a_complex_region(rng):
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    r = 3000 + 800 * np.sin(7 * t)
    star = Polygon(np.stack([5000 + r * np.cos(t), 5000 + r * np.sin(t)], 1)).difference(Point(5000, 5000).buffer(900))
    coords = rng.integers(0, 10000, size=(400, 2))
    got = patch_overlap_fraction(coords, 256, [star])
    want = np.array([star.intersection(box(x, y, x + 256, y + 256)).area / 256**2 for x, y in coords])
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert 0 < (got >= 0.01).sum() < len(coords)


def test_100k_patches_in_a_few_seconds():
    n = 317
    xs, ys = np.meshgrid(np.arange(n) * 256, np.arange(n) * 256)
    coords = np.stack([xs.ravel(), ys.ravel()], 1)
    t = np.linspace(0, 2 * np.pi, 5000, endpoint=False)
    r = 20000 + 3000 * np.sin(13 * t)
    star = Polygon(np.stack([60000 + r * np.cos(t), 50000 + r * np.sin(t)], 1))
    disc = Point(25000, 25000).buffer(20000, quad_segs=256)
    start = time.perf_counter()
    labels = patch_labels(coords, 256, [star, disc])
    elapsed = time.perf_counter() - start
    assert coords.shape[0] > 100_000
    expected_area = (star.area + disc.area) / 256**2
    assert abs(labels.sum() - expected_area) < 0.1 * expected_area  # boundary patches aside
    assert elapsed < 5.0, f"{elapsed:.2f} s for {coords.shape[0]} patches"
