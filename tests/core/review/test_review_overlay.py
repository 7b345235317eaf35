"""Normalisation modes, colour lookup and patch-grid placement (core.review, Qt-free)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from core.review.layers import LayerSettings, scalar_layer
from core.review.normalise import colorize, colormap_lut, describe, is_signed, normalise, rank_percentile
from core.review.patch_grid import geometry_rings, patch_lattice, subset_outline


def test_minmax_maps_extremes_to_0_and_1():
    v = np.array([2.0, 4.0, 3.0, np.nan])
    n = normalise(v, "minmax")
    assert n[:3].tolist() == [0.0, 1.0, 0.5] and np.isnan(n[3])


def test_manual_range_clips_and_requires_bounds():
    n = normalise(np.array([-1.0, 0.5, 2.0]), "manual", vmin=0.0, vmax=1.0)
    assert n.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError):
        normalise(np.array([1.0]), "manual")


def test_percentile_clip_ignores_outlier(rng):
    v = rng.uniform(0, 1, 1000)
    v[0] = 1000.0
    n = normalise(v, "percentile", lo_pct=1, hi_pct=99)
    # with min-max the outlier squeezes everything near 0; percentile keeps the spread
    assert np.median(normalise(v, "minmax")) < 0.01
    assert 0.4 < np.median(n) < 0.6 and n[0] == 1.0


def test_rank_is_uniform_whatever_the_distribution(rng):
    v = np.exp(rng.normal(size=101) * 5)
    n = normalise(v, "rank")
    assert np.allclose(np.sort(n), np.linspace(0, 1, 101))
    rank, pct = rank_percentile(np.array([3.0, 1.0, 2.0, 3.0]))
    assert rank.tolist() == [1, 4, 3, 1]
    assert pct[1] == 0.0 and pct[0] == pct[3] == pytest.approx(100 * 2.5 / 3)


def test_centered_puts_zero_in_the_middle():
    n = normalise(np.array([-2.0, 0.0, 1.0]), "centered")
    assert n.tolist() == [0.0, 0.5, 0.75]


def test_signed_maps_default_to_diverging_centred():
    assert is_signed(np.array([-1.0, 2.0])) and not is_signed(np.array([0.0, 1.0, 2.0]))
    assert scalar_layer("ig", np.array([-1.0, 2.0])).settings.colormap == "RdBu_r"
    s = scalar_layer("attention", np.array([0.1, 0.9])).settings
    assert (s.colormap, s.norm, s.opacity) == ("viridis", "rank", 0.5)


def test_colorize_threshold_and_opacity():
    rgba = colorize(np.array([0.0, 0.4, 1.0, np.nan]), "viridis", opacity=0.5, threshold=0.3)
    assert rgba.dtype == np.uint8 and rgba.shape == (4, 4)
    assert rgba[:, 3].tolist() == [0, 128, 128, 0]
    assert (rgba[2, :3] == colormap_lut("viridis")[255, :3]).all()
    lut = colormap_lut("turbo")
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    # diverging: threshold measures distance from the centre
    d = colorize(np.array([0.5, 0.9, 0.05]), "RdBu_r", threshold=0.5)
    assert d[:, 3].tolist() == [0, 128, 128]


def test_settings_validate_and_describe():
    with pytest.raises(ValueError):
        LayerSettings(colormap="jet")
    with pytest.raises(ValueError):
        LayerSettings(norm="manual")
    assert "percentile rank" in LayerSettings().describe()
    assert describe("manual", vmin=0, vmax=2) == "manual range 0 to 2"


def test_patch_grid_places_cells_exactly_on_patch_corners():
    ps = 256
    coords = np.array([[512, 768], [768, 768], [512, 1280]])
    g = patch_lattice(coords, ps)
    assert g.is_lattice and g.shape == (3, 2)
    assert g.rect == (512.0, 768.0, 512.0, 768.0)
    raster = g.rasterise(np.array([[1, 0, 0, 255], [2, 0, 0, 255], [3, 0, 0, 255]], dtype=np.uint8))
    assert raster[0, 0, 0] == 1 and raster[0, 1, 0] == 2 and raster[2, 0, 0] == 3 and raster[1, 0, 3] == 0
    # every cell's level-0 rectangle equals its patch's rectangle
    for i, (x, y) in enumerate(coords):
        r, c = np.argwhere(g.index == i)[0]
        assert (g.origin[0] + c * ps, g.origin[1] + r * ps) == (x, y)
    assert g.patch_at(512, 768) == 0 and g.patch_at(767.9, 1023.9) == 0 and g.patch_at(768, 768) == 1
    assert g.patch_at(511.9, 768) == -1 and g.patch_at(700, 1100) == -1


def test_overlapping_patches_fall_back_to_rectangles():
    g = patch_lattice(np.array([[0, 0], [128, 0]]), 256)
    assert not g.is_lattice
    assert g.patch_at(200, 10) == 1 and g.patch_at(100, 10) == 0 and g.patch_at(300, 10) == 1
    with pytest.raises(ValueError):
        g.rasterise(np.zeros((2, 4), np.uint8))


def test_subset_outline_merges_adjacent_squares():
    coords = np.array([[0, 0], [100, 0], [500, 500]])
    geom = subset_outline(coords, 100, np.array([0, 1, 2]))
    parts = list(shapely.get_parts(geom))
    assert len(parts) == 2 and geom.area == pytest.approx(30000)
    assert len(geometry_rings(geom)) == 2
    g = patch_lattice(coords, 100)
    assert g.patches_in(shapely.box(0, 0, 250, 100)).tolist() == [0, 1]
