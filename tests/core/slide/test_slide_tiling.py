"""Tiling math: level choice, viewport coverage (property tests), tile rectangles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.slide.tiling import TileKey, level_for_scale, tile_grid, tile_rect_level0, tiles_for_viewport

# a 4-level pyramid with non-divisible sizes (OpenSlide-style downsamples from the real ratios)
DIMS = ((50001, 30007), (12500, 7501), (3125, 1875), (781, 468))
DS = tuple((DIMS[0][0] / w + DIMS[0][1] / h) / 2 for w, h in DIMS)

SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)


def test_level_for_scale_picks_coarsest_level_not_finer_than_screen():
    ds = (1.0, 4.0, 16.0, 64.0)
    assert level_for_scale(ds, 2.0) == 0          # zoomed in
    assert level_for_scale(ds, 1.0) == 0          # 1:1
    assert level_for_scale(ds, 1 / 3.9) == 0      # 3.9 level-0 px per screen px: level 1 would blur
    assert level_for_scale(ds, 1 / 4.0) == 1
    assert level_for_scale(ds, 1 / 10) == 1
    assert level_for_scale(ds, 1 / 16.0000001) == 2
    assert level_for_scale(ds, 1 / 1000) == 3     # fit-to-window of a huge slide: never level 0
    with pytest.raises(ValueError):
        level_for_scale(ds, 0.0)


@SETTINGS
@given(scale=st.floats(min_value=1e-4, max_value=50.0))
def test_level_for_scale_rule(scale):
    lvl = level_for_scale(DS, scale)
    f = 1 / scale
    assert DS[lvl] <= f * (1 + 1e-6) or lvl == 0
    # no coarser level would also do
    assert all(d > f * (1 + 1e-6) for d in DS[lvl + 1:])


viewports = st.tuples(
    st.integers(0, len(DIMS) - 1),
    st.floats(-5000, 55000), st.floats(-5000, 35000),
    st.floats(1, 40000), st.floats(1, 40000),
    st.sampled_from([256, 512, 300]),
    st.integers(0, 2),
)


@SETTINGS
@given(viewports)
def test_visible_tiles_cover_viewport_exactly_once_centre_first(args):
    level, x0, y0, w, h, ts, prefetch = args
    vp = (x0, y0, x0 + w, y0 + h)
    visible, ring = tiles_for_viewport(DIMS, DS, level, vp, tile_size=ts, prefetch=prefetch)
    ds = DS[level]
    lw, lh = DIMS[level]
    ncols, nrows = tile_grid(DIMS, level, ts)
    # clipped viewport in level px
    cx0, cy0 = max(x0 / ds, 0), max(y0 / ds, 0)
    cx1, cy1 = min((x0 + w) / ds, lw), min((y0 + h) / ds, lh)
    if cx1 <= cx0 or cy1 <= cy0:
        assert visible == [] and ring == []
        return
    # no duplicates, all inside the level
    assert len(set(visible)) == len(visible) and len(set(ring)) == len(ring)
    assert not set(visible) & set(ring)
    for k in visible + ring:
        assert k.level == level and 0 <= k.col < ncols and 0 <= k.row < nrows
    # every visible tile overlaps the viewport with positive area
    for k in visible:
        tx0, ty0 = k.col * ts, k.row * ts
        tx1, ty1 = min(tx0 + ts, lw), min(ty0 + ts, lh)
        assert min(tx1, cx1) > max(tx0, cx0) and min(ty1, cy1) > max(ty0, cy0)
    # the union covers the clipped viewport: it is exactly the block of tiles over its bounds
    cols = {k.col for k in visible}
    rows = {k.row for k in visible}
    assert len(visible) == len(cols) * len(rows)
    assert min(cols) * ts <= cx0 and min(max(cols) * ts + ts, lw) >= cx1
    assert min(rows) * ts <= cy0 and min(max(rows) * ts + ts, lh) >= cy1
    # centre first: distances to the viewport centre never decrease
    mx, my = (x0 + w / 2) / ds, (y0 + h / 2) / ds

    def d(k):
        return math.hypot((k.col + 0.5) * ts - mx, (k.row + 0.5) * ts - my)

    for seq in (visible, ring):
        dists = [d(k) for k in seq]
        assert all(a <= b + 1e-9 for a, b in zip(dists, dists[1:]))
    # ring = exactly the tiles within `prefetch` of the visible block, clipped
    expect = {
        (c, r)
        for r in range(max(0, min(rows) - prefetch), min(nrows - 1, max(rows) + prefetch) + 1)
        for c in range(max(0, min(cols) - prefetch), min(ncols - 1, max(cols) + prefetch) + 1)
    } - {(k.col, k.row) for k in visible}
    assert {(k.col, k.row) for k in ring} == expect


def test_viewport_outside_slide_gives_nothing():
    assert tiles_for_viewport(DIMS, DS, 0, (-100, -100, -1, -1)) == ([], [])
    assert tiles_for_viewport(DIMS, DS, 1, (60000, 0, 70000, 10)) == ([], [])


def test_small_viewport_centre_tile_first_with_ring():
    vis, ring = tiles_for_viewport(((4096, 4096),), (1.0,), 0, (718, 718, 818, 818), tile_size=512)
    assert vis == [TileKey(0, 1, 1)]
    assert sorted(ring) == sorted(TileKey(0, c, r) for c in range(3) for r in range(3) if (c, r) != (1, 1))
    # the four edge neighbours come before the corners
    assert {(k.col, k.row) for k in ring[:4]} == {(0, 1), (2, 1), (1, 0), (1, 2)}


@SETTINGS
@given(level=st.integers(0, 3), ts=st.sampled_from([256, 512, 300]), data=st.data())
def test_tile_rects_tile_the_level_without_gaps(level, ts, data):
    ncols, nrows = tile_grid(DIMS, level, ts)
    c = data.draw(st.integers(0, ncols - 1))
    r = data.draw(st.integers(0, nrows - 1))
    x, y, w, h = tile_rect_level0(TileKey(level, c, r), DIMS, DS, ts)
    ds = DS[level]
    assert x == pytest.approx(c * ts * ds) and y == pytest.approx(r * ts * ds)
    assert 0 < w <= ts * ds + 1e-9 and 0 < h <= ts * ds + 1e-9
    # the last tile ends at the level's edge (in level-0 px)
    xl, _, wl, _ = tile_rect_level0(TileKey(level, ncols - 1, r), DIMS, DS, ts)
    assert xl + wl == pytest.approx(DIMS[level][0] * ds)
    if c + 1 < ncols:  # neighbours touch
        xn, _, _, _ = tile_rect_level0(TileKey(level, c + 1, r), DIMS, DS, ts)
        assert x + w == pytest.approx(xn)


def test_tile_outside_level_is_rejected():
    with pytest.raises(ValueError):
        tile_rect_level0(TileKey(3, 100, 0), DIMS, DS, 512)
