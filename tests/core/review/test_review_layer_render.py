"""Cached display steps of a map: same colours as the uncached path, recomputed only when needed."""

from __future__ import annotations

import numpy as np

from core.review.layer_render import LayerRenderCache, colorbar_ends
from core.review.layers import scalar_layer
from core.review.normalise import colorize, normalise
from core.review.patch_grid import patch_lattice
from core.review.smoothing import smooth_scores


def _grid_and_layer(signed=False):
    coords = np.stack(np.meshgrid(np.arange(30) * 256, np.arange(20) * 256), -1).reshape(-1, 2).astype(np.int64)
    rng = np.random.default_rng(0)
    v = rng.normal(size=coords.shape[0]) if signed else rng.random(coords.shape[0])
    v[5] = np.nan
    return patch_lattice(coords, 256), scalar_layer("m", v)


def _reference(layer, grid):
    s = layer.settings
    v = smooth_scores(grid, layer.values, s.smooth_sigma) if s.smooth_sigma > 0 else layer.values
    n = normalise(v, s.norm, vmin=s.vmin, vmax=s.vmax, lo_pct=s.lo_pct, hi_pct=s.hi_pct)
    return colorize(n, s.colormap, s.opacity, s.threshold)


def test_cached_colours_equal_the_reference_path_for_every_setting():
    for signed in (False, True):
        grid, layer = _grid_and_layer(signed)
        cache = LayerRenderCache()
        for changes in ({}, {"threshold": 0.4}, {"opacity": 0.8}, {"colormap": "magma"}, {"norm": "minmax"},
                        {"smooth_sigma": 1.5}, {"norm": "percentile", "lo_pct": 5.0, "threshold": 0.2}):
            layer = layer.with_settings(**changes)
            np.testing.assert_array_equal(cache.rgba(layer, grid), _reference(layer, grid))
            opaque = cache.rgba(layer, grid, with_opacity=False)
            ref = _reference(layer, grid)
            np.testing.assert_array_equal(opaque[:, :3], ref[:, :3])
            assert set(np.unique(opaque[:, 3])) <= {0, 255} and ((opaque[:, 3] > 0) == (ref[:, 3] > 0)).all()


def test_opacity_and_threshold_changes_reuse_the_normalised_scores():
    grid, layer = _grid_and_layer()
    cache = LayerRenderCache()
    layer = layer.with_settings(smooth_sigma=2.0, norm="minmax")
    cache.rgba(layer, grid)
    before = dict(cache.computed)
    for t in np.linspace(0, 1, 11):
        layer = layer.with_settings(threshold=float(t), opacity=float(1 - t))
        cache.rgba(layer, grid)
    assert cache.computed == before  # no smoothing, normalising or colouring again
    cache.rgba(layer.with_settings(colormap="turbo"), grid)
    assert cache.computed["colour"] == before["colour"] + 1 and cache.computed["normalise"] == before["normalise"]
    cache.rgba(layer.with_settings(norm="rank"), grid)
    assert cache.computed["normalise"] == before["normalise"] + 1 and cache.computed["smooth"] == before["smooth"]
    cache.rgba(layer.with_settings(smooth_sigma=1.0), grid)
    assert cache.computed["smooth"] == before["smooth"] + 1
    # new scores under the same name (a reloaded file) are never served from the cache
    fresh = scalar_layer("m", np.linspace(0, 1, layer.values.size)).with_settings(norm="minmax")
    np.testing.assert_array_equal(cache.rgba(fresh, grid), _reference(fresh, grid))
    off = LayerRenderCache(enabled=False)
    off.rgba(layer, grid)
    off.rgba(layer, grid)
    assert off.computed["normalise"] == 2


def test_colorbar_ends_in_words():
    grid, layer = _grid_and_layer()
    assert colorbar_ends(layer.values, layer) == ("lowest", "highest")
    lo, hi = colorbar_ends(layer.values, layer.with_settings(norm="minmax"))
    assert float(lo) == float(f"{np.nanmin(layer.values):.3g}") and float(hi) == float(f"{np.nanmax(layer.values):.3g}")
    assert colorbar_ends(layer.values, layer.with_settings(norm="manual", vmin=0.1, vmax=0.9)) == ("0.1", "0.9")
