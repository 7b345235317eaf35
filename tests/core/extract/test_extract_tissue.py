"""Tissue detection: Otsu, saturation, mask clean-up, per-patch tissue fraction (synthetic + real CMU)."""

from __future__ import annotations

import numpy as np
import pytest

from core.extract.tissue import (
    TissueMask,
    detect_tissue,
    otsu_threshold,
    patch_tissue_fraction,
    saturation,
    tissue_mask,
)
from core.slide.reader import open_slide

PINK = (220, 120, 180)
WHITE = (245, 245, 245)


def test_otsu_splits_two_populations(rng):
    low = rng.normal(30, 5, 4000)
    high = rng.normal(150, 10, 1000)
    values = np.clip(np.concatenate([low, high]), 0, 255).astype(np.uint8)
    t = otsu_threshold(values)
    assert 50 < t < 120
    assert ((values > t) == (np.arange(values.size) >= 4000)).mean() > 0.999


def test_otsu_of_constant_and_two_levels():
    assert otsu_threshold(np.full(100, 7, np.uint8)) == 0.0
    t = otsu_threshold(np.array([10] * 50 + [200] * 50, np.uint8))
    assert 10 <= t < 200


def test_saturation_of_known_colours():
    px = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [200, 100, 100]]], np.uint8)
    np.testing.assert_array_equal(saturation(px)[0], [0, 0, 255, 127])


def _synthetic_slide() -> np.ndarray:
    img = np.empty((200, 300, 3), np.uint8)
    img[:] = WHITE
    img[40:160, 40:200] = PINK  # tissue block
    img[90:96, 100:106] = WHITE  # small hole: filled
    img[60:140, 150:190] = WHITE  # large hole touching nothing: kept
    img[10:13, 250:253] = PINK  # 9-pixel speck: removed
    img[170:180, 250:260] = (5, 5, 5)  # black: never tissue
    return img


def test_mask_rules_on_synthetic_image():
    img = _synthetic_slide()
    mask, thr = tissue_mask(img, min_object_px=50, max_hole_px=100)
    assert mask.shape == img.shape[:2] and mask.dtype == bool
    assert 20 <= thr < 255
    assert mask[50, 50] and mask[93, 103]  # tissue and the filled small hole
    assert not mask[100, 170]  # the large hole stays background
    assert not mask[11, 251]  # speck removed
    assert not mask[175, 255] and not mask[5, 5]
    raw, _ = tissue_mask(img)  # no clean-up: the speck stays, the small hole stays open
    assert raw[11, 251] and not raw[93, 103]


def test_blank_slide_has_no_tissue(rng):
    img = np.clip(rng.normal(240, 2, (100, 100, 3)), 0, 255).astype(np.uint8)  # glass with noise
    mask, thr = tissue_mask(img)
    assert thr >= 20 and not mask.any()


def test_tissue_mask_rejects_wrong_input():
    with pytest.raises(ValueError):
        tissue_mask(np.zeros((10, 10), np.uint8))


def test_patch_tissue_fraction_matches_brute_force(rng):
    mask = rng.random((50, 70)) < 0.4
    tm = TissueMask(mask=mask, downsample=(4.0, 4.0), threshold=0.0)
    coords = np.array([[0, 0], [40, 20], [200, 100], [268, 188], [-8, 0]], np.int64)
    frac = patch_tissue_fraction(tm, coords, 16)
    expected = []
    for x, y in coords:
        x0, y0 = x // 4, y // 4
        block = np.zeros((4, 4))
        for i in range(4):
            for j in range(4):
                yy, xx = y0 + i, x0 + j
                if 0 <= yy < 50 and 0 <= xx < 70:
                    block[i, j] = mask[yy, xx]
        expected.append(block.mean())
    np.testing.assert_allclose(frac, expected, atol=1e-6)
    assert frac.dtype == np.float32


def test_detect_tissue_on_real_cmu_region(cmu_slide):
    with open_slide(cmu_slide) as reader:
        tm = detect_tissue(reader, downsample=8)
    h, w = tm.mask.shape
    assert max(h, w) >= 350  # 2967 / 8
    sx, sy = tm.downsample
    assert sx == pytest.approx(2220 / w) and sy == pytest.approx(2967 / h)
    # the region is a strip of skin on glass: roughly a third tissue
    assert 0.2 < tm.tissue_fraction < 0.6
    coords = np.array([[0, 0], [1900, 100], [1024, 1024], [1024, 2048], [1280, 2560]], np.int64)
    frac = patch_tissue_fraction(tm, coords, 256)
    assert frac[0] < 0.05 and frac[1] < 0.05  # glass corners
    assert (frac[2:] > 0.9).all()  # epidermis, dermis


def test_all_tissue_thumbnail_is_not_split_in_two(cmu_slide):
    """With no glass in view, Otsu would cut pale dermis from dark epidermis; the clamp prevents it."""
    with open_slide(cmu_slide) as reader:
        crop = reader.read_region((768, 1792), 0, (768, 768))[::4, ::4, :3].copy()  # dermis + epidermis
    mask, thr = tissue_mask(crop)
    assert thr <= 45
    assert mask.mean() > 0.85
    unclamped, thr_otsu = tissue_mask(crop, max_saturation=255)
    assert thr_otsu > thr and unclamped.mean() < mask.mean()
