"""Gaussian smoothing on the patch grid, the tissue outline, clipping and tissue in the session."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.extract.tissue import TissueMask
from core.review.layers import LayerSettings, RegionLayer
from core.review.patch_grid import patch_lattice
from core.review.smoothing import smooth_scores
from core.review.tissue import clip_alpha, tissue_geometry


def _lattice(rows, cols, ps=100, holes=()):
    rc = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in holes]
    coords = np.array([(c * ps, r * ps) for r, c in rc], dtype=np.int64)
    return patch_lattice(coords, ps), rc


def test_sigma_zero_is_identity_and_constants_stay_constant_even_at_edges_and_holes():
    grid, rc = _lattice(6, 9, holes={(2, 3), (2, 4), (0, 0)})
    v = np.random.default_rng(0).normal(size=len(rc))
    np.testing.assert_array_equal(smooth_scores(grid, v, 0.0), v)
    np.testing.assert_allclose(smooth_scores(grid, np.full(len(rc), 3.5), 1.5), 3.5, rtol=1e-12)


def test_spike_spreads_to_neighbours_symmetrically_and_nan_is_missing():
    grid, rc = _lattice(11, 11)
    v = np.zeros(len(rc))
    centre = rc.index((5, 5))
    v[centre] = 1.0
    out = smooth_scores(grid, v, 1.0)
    assert out[centre] < 1.0 and out.argmax() == centre
    n = [out[rc.index(p)] for p in ((4, 5), (6, 5), (5, 4), (5, 6))]
    np.testing.assert_allclose(n, n[0])
    assert n[0] > out[rc.index((2, 5))] > 0 == out[rc.index((0, 0))]  # cut at 4 sigma
    v[rc.index((0, 0))] = np.nan
    out2 = smooth_scores(grid, v, 1.0)
    assert np.isnan(out2[rc.index((0, 0))]) and np.isfinite(np.delete(out2, rc.index((0, 0)))).all()


def test_off_lattice_path_agrees_with_the_lattice_path():
    grid, rc = _lattice(8, 10, holes={(3, 3), (7, 0)})
    v = np.random.default_rng(1).random(len(rc))
    off = replace(grid, is_lattice=False)
    np.testing.assert_allclose(smooth_scores(off, v, 1.2), smooth_scores(grid, v, 1.2), rtol=2e-3, atol=2e-4)


def test_colorbar_words_name_smoothing_and_clipping():
    s = LayerSettings(norm="rank")
    assert "smoothed" not in s.describe() and "tissue" not in s.describe()
    both = replace(s, smooth_sigma=1.5, clip_to_tissue=True).describe()
    assert both.startswith("percentile rank") and "smoothed σ = 1.5 patches" in both and "clipped to tissue" in both


def test_bad_smoothing_arguments():
    grid, _ = _lattice(2, 2)
    with pytest.raises(ValueError, match="scores for"):
        smooth_scores(grid, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        smooth_scores(grid, np.zeros(4), -1.0)
    with pytest.raises(ValueError, match="sigma"):
        LayerSettings(smooth_sigma=-0.5)


def test_tissue_outline_keeps_holes_and_scales_to_level0():
    m = np.zeros((20, 30), bool)
    m[4:16, 5:25] = True
    m[8:12, 12:18] = False  # a lumen
    g = tissue_geometry(TissueMask(m, (8.0, 4.0), 30.0))
    minx, miny, maxx, maxy = g.bounds
    assert (minx, maxx) == (5 * 8.0, 25 * 8.0) and (miny, maxy) == (4 * 4.0, 16 * 4.0)
    import shapely

    assert not g.contains(shapely.Point(15 * 8.0, 10 * 4.0))  # the hole stays open
    assert g.contains(shapely.Point(6 * 8.0, 5 * 4.0))
    assert abs(g.area - m.sum() * 32.0) < 0.03 * m.sum() * 32.0
    assert tissue_geometry(TissueMask(np.zeros((5, 5), bool), (1.0, 1.0), 0.0)).is_empty


def test_clip_alpha_hides_only_low_tissue_patches():
    rgba = np.full((4, 4), 200, np.uint8)
    out = clip_alpha(rgba.copy(), np.array([0.0, 0.49, 0.5, 1.0]))
    np.testing.assert_array_equal(out[:, 3], [0, 0, 200, 200])
    np.testing.assert_array_equal(clip_alpha(rgba.copy(), None), rgba)
    with pytest.raises(ValueError):
        clip_alpha(rgba.copy(), np.zeros(3))


@pytest.fixture(scope="module")
def polish_project(cmu_slide, tmp_path_factory):
    from core.review.demo import write_demo_project

    root = tmp_path_factory.mktemp("polish_proj")
    write_demo_project(cmu_slide, root)
    (root / "slides").mkdir()
    (root / "slides" / cmu_slide.name).symlink_to(cmu_slide)
    return root


def test_session_tissue_layer_and_fraction_on_the_real_slide(polish_project):
    from core.extract.tissue import detect_tissue, patch_tissue_fraction
    from core.review.session import ReviewSession

    s = ReviewSession()
    s.open([polish_project])
    assert s.tissue_fraction is None
    tissue = detect_tissue(s.slide)
    s.set_tissue(tissue)
    frac = s.tissue_fraction
    np.testing.assert_array_equal(frac, patch_tissue_fraction(tissue, s.grid.coords, s.grid.patch_size_level0_px))
    assert isinstance(s.layer("tissue"), RegionLayer)
    s.update_layer("tissue", filled=True, opacity=0.3)
    s.set_tissue(tissue)  # replaced in place, settings kept
    assert s.layer("tissue").settings.filled and s.layer("tissue").settings.opacity == 0.3
    assert len([x for x in s.layers if x.name == "tissue"]) == 1
    s.close()
    assert s.tissue is None and s.tissue_fraction is None
