"""Planning the virtual slides: tissue blob, contiguous evidence cluster, symmetries, balance."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.demo.layout import apply_symmetry, grow_cluster, plan_cohort, render_slide, tissue_blob
from core.demo.patch_classes import BACKGROUND, DERMIS, EPIDERMIS, PatchCatalog


def _catalog() -> PatchCatalog:
    p = 16
    image = np.zeros((p, 3 * p, 3), dtype=np.uint8)
    for k in range(3):
        image[:, k * p:(k + 1) * p] = 50 * (k + 1)
    image[0, 0] = 255  # an asymmetric mark so symmetries are visible
    coords = np.array([[0, 0], [p, 0], [2 * p, 0]], dtype=np.int64)
    z = np.zeros(3, np.float32)
    return PatchCatalog(image=image, coords=coords, classes=np.array([BACKGROUND, DERMIS, EPIDERMIS], np.int8),
                        tissue=z, h=z, h_min=z, h_max=z, patch_size=p)


def test_tissue_blob_keeps_a_background_margin(rng):
    for _ in range(20):
        blob = tissue_blob(12, 10, rng)
        assert not blob[0].any() and not blob[-1].any() and not blob[:, 0].any() and not blob[:, -1].any()
        assert blob.sum() >= 0.3 * 12 * 10
        assert ndimage.label(blob)[1] == 1


def test_grown_cluster_is_contiguous_inside_and_of_the_asked_size(rng):
    allowed = tissue_blob(16, 16, rng)
    for size in (2, 5, 17):
        c = grow_cluster(allowed, size, rng)
        assert c.sum() == size and not (c & ~allowed).any()
        assert ndimage.label(c)[1] == 1


def test_eight_distinct_symmetries():
    patch = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    outs = {apply_symmetry(patch, s).tobytes() for s in range(8)}
    assert len(outs) == 8


def test_plan_is_balanced_stratified_and_seeded():
    cat = _catalog()
    plans = plan_cohort(cat, 9, (8, 8), seed=5, n_folds=2)
    labels = [p.label for p in plans]
    assert labels.count("positive") == 4 and labels.count("negative") == 5
    for p in plans:
        assert p.evidence.any() == (p.label == "positive")
        # every cell draws from its own class
        np.testing.assert_array_equal(cat.classes[p.sources], p.classes)
    for lab in ("positive", "negative"):
        folds = [p.fold for p in plans if p.label == lab]
        assert max(folds.count(0), folds.count(1)) - min(folds.count(0), folds.count(1)) <= 1
    again = plan_cohort(cat, 9, (8, 8), seed=5, n_folds=2)
    assert all((a.sources == b.sources).all() and (a.symmetry == b.symmetry).all() for a, b in zip(plans, again))
    other = plan_cohort(cat, 9, (8, 8), seed=6, n_folds=2)
    assert any((a.classes != b.classes).any() for a, b in zip(plans, other))


def test_render_places_each_source_patch_in_its_cell():
    cat = _catalog()
    plan = plan_cohort(cat, 2, (6, 6), seed=0)[0]
    img = render_slide(plan, cat)
    assert img.shape == (6 * 16, 6 * 16, 3)
    for r in range(6):
        for c in range(6):
            cell = img[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16]
            expected = apply_symmetry(cat.patch(int(plan.sources[r, c])), int(plan.symmetry[r, c]))
            np.testing.assert_array_equal(cell, expected)
