"""The colour/density rules that sort real patches into epidermis / dermis / background."""

from __future__ import annotations

import numpy as np
import pytest

from core.demo.patch_classes import (
    BACKGROUND,
    DERMIS,
    EPIDERMIS,
    UNUSED,
    catalog_from_image,
    catalog_from_slide,
    classify_windows,
)


def test_rules_on_hand_made_statistics():
    tissue = np.array([0.05, 0.9, 0.9, 0.9, 0.8, 0.5, 0.9], dtype=np.float32)
    h = np.array([0.0, 0.10, 0.50, 0.50, 0.10, 0.30, 0.30], dtype=np.float32)
    h_min = np.array([0.0, 0.05, 0.30, 0.10, 0.05, 0.2, 0.2], dtype=np.float32)
    h_max = np.array([0.0, 0.20, 0.70, 0.70, 0.40, 0.4, 0.4], dtype=np.float32)
    got = classify_windows(tissue, h, h_min, h_max)
    # glass; clean collagen; clean epithelium; epithelium with a pale cell; collagen with a purple
    # corner; sparse tissue; mid-density -> unused
    np.testing.assert_array_equal(got, [BACKGROUND, DERMIS, EPIDERMIS, UNUSED, UNUSED, UNUSED, UNUSED])


def test_synthetic_stains_are_sorted():
    img = np.full((256, 768, 3), 242, dtype=np.uint8)  # glass | pink | purple
    img[:, 256:512] = (230, 150, 200)  # eosin pink
    img[:, 512:] = (110, 60, 150)  # haematoxylin purple
    cat = catalog_from_image(img, 256, 256)
    np.testing.assert_array_equal(cat.coords, [[0, 0], [256, 0], [512, 0]])
    np.testing.assert_array_equal(cat.classes, [BACKGROUND, DERMIS, EPIDERMIS])
    assert cat.patch(2).shape == (256, 256, 3)


def test_window_statistics_match_a_direct_computation(rng):
    from core.extract.encoders.stain import stain_densities

    img = rng.integers(0, 256, size=(320, 384, 3), dtype=np.uint8)
    cat = catalog_from_image(img, 128, 64)
    i = 7
    x, y = cat.coords[i]
    win = img[y:y + 128, x:x + 128]
    hed, od = stain_densities(win.reshape(1, -1, 3))
    tis = od[0].sum(-1) >= 0.2
    assert cat.tissue[i] == pytest.approx(tis.mean(), abs=1e-6)
    assert cat.h[i] == pytest.approx(hed[0, tis, 0].mean(), rel=1e-4)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="smaller than one"):
        catalog_from_image(np.zeros((100, 100, 3), np.uint8), 256, 64)
    with pytest.raises(ValueError, match="multiple of the stride"):
        catalog_from_image(np.zeros((300, 300, 3), np.uint8), 256, 100)


def test_real_cmu_region_has_enough_of_every_class(cmu_slide):
    cat = catalog_from_slide(cmu_slide)
    counts = np.bincount(cat.classes, minlength=4)
    assert counts[EPIDERMIS] >= 20 and counts[DERMIS] >= 20 and counts[BACKGROUND] >= 100
    # epidermis is nuclear-stain rich, dermis is not: the classes are separated by a margin
    assert cat.h[cat.classes == EPIDERMIS].min() > cat.h[cat.classes == DERMIS].max() + 0.15
