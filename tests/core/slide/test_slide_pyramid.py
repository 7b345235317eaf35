"""The large real-tissue pyramid TIFF: levels seen by OpenSlide, mpp, content, box-filtered levels."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from core.slide import pyramid
from core.slide.pyramid import build_pyramid_tiff, large_slide_path, level_base, mirror_index, pyramid_level_sizes
from core.slide.reader import open_slide

# the CMU crop used as source: 2048 x 2816 (multiples of 256) centred in 2220 x 2967
CROP = (86, 75, 2048, 2816)


def test_mirror_index():
    np.testing.assert_array_equal(mirror_index(np.arange(12), 3), [0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0])


def test_pyramid_level_sizes():
    assert pyramid_level_sizes((51200, 51200), 256)[-1] == (200, 200)
    assert len(pyramid_level_sizes((51200, 51200), 256)) == 9
    assert pyramid_level_sizes((3000, 1000), 256) == [(3000, 1000), (1500, 500), (750, 250), (375, 125), (187, 62)]
    assert pyramid_level_sizes((100, 100), 256) == [(100, 100)]


@pytest.mark.parametrize(("h", "w", "d"), [(5, 7, 1), (5, 7, 2), (6, 7, 4), (3, 5, 8)])
def test_level_base_is_the_box_mean_of_the_mirrored_tiling(h, w, d, rng):
    src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    base = level_base(src, d)
    py, px = base.shape[:2]
    # naive: build enough of the mirrored level 0, box-average it
    ny, nx = 2 * py + 1, 2 * px + 1  # two periods and a bit, to check periodicity too
    l0 = src[mirror_index(np.arange(ny * d), h)][:, mirror_index(np.arange(nx * d), w)].astype(float)
    naive = l0.reshape(ny, d, nx, d, 3).mean(axis=(1, 3))
    got = base[np.arange(ny) % py][:, np.arange(nx) % px].astype(float)
    assert np.abs(got - naive).max() <= 0.5 + 1e-3


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[..., :3].astype(float) - b[..., :3].astype(float)).mean())


def _aligned(a: np.ndarray, b: np.ndarray, axis: int) -> bool:
    """``a`` matches ``b`` better unshifted than shifted by 1 or 2 px either way along ``axis``."""
    at0 = _mad(a, b)
    for k in (1, 2):
        ak, bk = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
        if min(_mad(ak[k:], bk[:-k]), _mad(ak[:-k], bk[k:])) <= at0:
            return False
    return True


def test_small_pyramid_levels_mpp_and_real_content(small_pyramid, cmu_slide):
    with open_slide(small_pyramid) as r, open_slide(cmu_slide) as src:
        assert r.vendor == "generic-tiff"
        assert r.dimensions == (8192, 8192)
        assert r.level_count == 6 > 1
        assert r.level_dimensions == tuple((8192 >> i, 8192 >> i) for i in range(6))
        assert r.level_downsamples == tuple(float(2**i) for i in range(6))
        assert r.mpp == pytest.approx(0.499, abs=1e-4)
        assert r.objective_power == 20
        # level 0 at the origin is the source crop, pixel-aligned (a 1-px shift is far worse; the
        # residual is JPEG q80 with 4:2:0 chroma on top of the source's own JPEG q30)
        x0, y0, _, ch = CROP
        a = r.read_region((1000, 1200), 0, (300, 300))
        b = src.read_region((x0 + 1000, y0 + 1200), 0, (300, 300))
        shifted = src.read_region((x0 + 1001, y0 + 1200), 0, (300, 300))
        assert b[..., :3].std() > 20  # real tissue there
        assert _mad(a, b) < 10 and _mad(a, b) < 0.5 * _mad(a, shifted) and _aligned(a, b, 1)
        # the next copy down is the upside-down image of the crop
        m = r.read_region((1000, ch), 0, (300, 200))
        mb = src.read_region((x0 + 1000, y0 + ch - 200), 0, (300, 200))[::-1]
        assert mb[..., :3].std() > 20
        assert _mad(m, mb) < 10 and _aligned(m, mb, 0) and _aligned(m, mb, 1)
        # a reduced level is the 2x2 box mean of level 0
        l1 = r.read_region((1000, 1200), 1, (256, 256))[..., :3].astype(float)
        l0 = r.read_region((1000, 1200), 0, (512, 512))[..., :3].astype(float)
        assert l0.std() > 20
        box = l0.reshape(256, 2, 256, 2, 3).mean(axis=(1, 3))
        assert _mad(l1, box) < 10 and _aligned(l1, box, 0) and _aligned(l1, box, 1)
        # every level decodes, fully opaque, with tissue
        for lvl, (w, h) in enumerate(r.level_dimensions):
            ds = r.level_downsamples[lvl]
            t = r.read_region((1024, 1024), lvl, (min(w - int(1024 / ds), 512), min(h - int(1024 / ds), 512)))
            assert (t[..., 3] == 255).all() and t[..., :3].std() > 10


def test_odd_size_reads_back_exactly(cmu_slide, tmp_path):
    out = build_pyramid_tiff(cmu_slide, tmp_path / "odd.tiff", size=(3000, 1000), tile=256, quality=70)
    with open_slide(out) as r:
        assert r.level_dimensions == ((3000, 1000), (1500, 500), (750, 250), (375, 125), (187, 62))
        edge = r.read_region((2990, 990), 0, (10, 10))
        assert (edge[..., 3] == 255).all()


def test_failed_build_leaves_no_file(cmu_slide, tmp_path, monkeypatch):
    real = pyramid.level_base

    def failing(src, d):
        if d == 4:
            raise RuntimeError("disk full")
        return real(src, d)

    monkeypatch.setattr(pyramid, "level_base", failing)
    with pytest.raises(RuntimeError):
        build_pyramid_tiff(cmu_slide, tmp_path / "broken.tiff", size=(2048, 2048))
    assert os.listdir(tmp_path) == []


def test_large_slide_path_builds_once(tmp_path):
    p = large_slide_path(2048, cache=tmp_path)
    assert p.name == "large_cmu_2048.tiff"
    stamp = p.stat().st_mtime_ns
    assert large_slide_path(2048, cache=tmp_path) == p and p.stat().st_mtime_ns == stamp
    with open_slide(p) as r:
        assert r.dimensions == (2048, 2048) and r.level_count == 4


@pytest.mark.slow
def test_full_size_51200_pyramid(tmp_path):
    t0 = time.perf_counter()
    p = large_slide_path(51200, cache=tmp_path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 120, f"building took {elapsed:.0f} s"
    with open_slide(p) as r:
        assert r.dimensions == (51200, 51200) and r.level_count == 9
        assert r.level_dimensions[-1] == (200, 200)
        assert r.mpp == pytest.approx(0.499, abs=1e-4) and r.objective_power == 20
        corner = r.read_region((51200 - 512, 51200 - 512), 0, (512, 512))
        assert (corner[..., 3] == 255).all()
        # the mirrored tiling repeats every 4096 x 5632 px (twice the 2048 x 2816 crop): far-away
        # tissue at the same phase is identical
        t = r.read_region((10 * 4096 + 1024, 8 * 5632 + 1024), 0, (512, 512))
        assert t[..., :3].std() > 20
        np.testing.assert_array_equal(t, r.read_region((1024, 1024), 0, (512, 512)))


def test_best_level_agrees_with_openslide(small_pyramid):
    import openslide

    ref = openslide.OpenSlide(small_pyramid)
    try:
        with open_slide(small_pyramid) as r:
            for ds in (0.5, 1.0, 1.9, 2.0, 3.0, 7.99, 8.0, 31.0, 32.0, 100.0):
                assert r.best_level_for_downsample(ds) == ref.get_best_level_for_downsample(ds), ds
    finally:
        ref.close()
