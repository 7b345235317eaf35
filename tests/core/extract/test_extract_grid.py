"""Patch grid: magnification, level-0 patch size, read level, tissue filter, row-major order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import EvidentError
from core.extract.grid import build_grid, grid_coords, level0_magnification, read_level
from core.extract.tissue import TissueMask


class FakeReader:
    """The parts of SlideReader the grid uses: a 40x pyramid with downsamples 1, 4, 16."""

    def __init__(self, dims=(10000, 6000), objective_power=40.0, mpp=0.25, downsamples=(1.0, 4.0, 16.0)):
        self.path = Path("fake.svs")
        self.dimensions = dims
        self.objective_power = objective_power
        self.mpp = mpp
        self.level_downsamples = downsamples



def test_level0_magnification_rules():
    assert level0_magnification(40.0, 0.5) == 40.0  # objective power wins
    assert level0_magnification(None, 0.25) == pytest.approx(40.0)
    assert level0_magnification(None, 0.5) == pytest.approx(20.0)
    with pytest.raises(EvidentError, match="level0-magnification") as err:
        level0_magnification(None, None, "slide.png")
    assert err.value.path == "slide.png"


def test_grid_coords_cover_whole_patches_row_major():
    c = grid_coords(1000, 600, 256)
    assert c.dtype == np.int64 and c.shape == (3 * 2, 2)
    np.testing.assert_array_equal(c[:4], [[0, 0], [256, 0], [512, 0], [0, 256]])
    assert (c + 256 <= [1000, 600]).all()
    assert grid_coords(100, 100, 256).shape == (0, 2)


@pytest.mark.parametrize(
    ("target", "size0", "level", "read"),
    [(20.0, 512, 0, 512), (10.0, 1024, 1, 256), (5.0, 2048, 1, 512), (40.0, 256, 0, 256), (1.25, 8192, 2, 512)],
)
def test_patch_size_and_read_level(target, size0, level, read):
    g = build_grid(FakeReader(dims=(20000, 20000)), None, target_mag=target, patch_size=256)
    assert g.patch_size_level0_px == size0
    assert g.read_level == level and g.read_size == read
    assert g.level0_magnification == 40.0 and g.target_magnification == target
    assert len(g.coords) == g.n_candidates == (20000 // size0) ** 2
    attrs = g.attrs()
    assert attrs["patch_size"] == 256 and attrs["patch_size_level0"] == size0 and attrs["overlap"] == 0
    assert (attrs["level0_width"], attrs["level0_height"]) == (20000, 20000)


def test_magnification_from_mpp_and_override():
    g = build_grid(FakeReader(objective_power=None, mpp=0.5), None, target_mag=20.0, patch_size=224)
    assert g.level0_magnification == pytest.approx(20.0) and g.patch_size_level0_px == 224
    g = build_grid(FakeReader(objective_power=None, mpp=None), None, level0_mag=40.0)
    assert g.patch_size_level0_px == 512


def test_target_above_slide_magnification_is_an_error():
    with pytest.raises(EvidentError, match="above the slide") as err:
        build_grid(FakeReader(objective_power=20.0), None, target_mag=40.0)
    assert err.value.path == "fake.svs"
    with pytest.raises(EvidentError, match="neither objective power"):
        build_grid(FakeReader(objective_power=None, mpp=None), None)


def test_tissue_threshold_filters_patches():
    reader = FakeReader(dims=(2048, 1024), objective_power=20.0)
    mask = np.zeros((64, 128), bool)  # 16 level-0 px per mask px
    mask[:, :40] = True  # x < 640: patches 0, 1 full, patch 2 (512..768) half tissue
    tm = TissueMask(mask=mask, downsample=(16.0, 16.0), threshold=0.0)
    g = build_grid(reader, tm, tissue_threshold=0.5)
    np.testing.assert_array_equal(np.unique(g.coords[:, 0]), [0, 256, 512])
    np.testing.assert_allclose(np.unique(g.tissue_fraction), [0.5, 1.0])
    assert g.n_candidates == 8 * 4
    assert len(build_grid(reader, tm, tissue_threshold=0.51).coords) == 2 * 4
    assert len(build_grid(reader, tm, tissue_threshold=0.0).coords) == 32
    # row-major: sorted by y, then x
    order = np.lexsort((g.coords[:, 0], g.coords[:, 1]))
    np.testing.assert_array_equal(order, np.arange(len(g.coords)))


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        build_grid(FakeReader(), None, tissue_threshold=1.5)
    with pytest.raises(ValueError):
        build_grid(FakeReader(), None, patch_size=0)


def test_read_level_tolerates_pyramid_rounding():
    ds = (1.0, 4.002, 16.03, 64.2)
    assert read_level(ds, 4.0) == 1 and read_level(ds, 16.0) == 2 and read_level(ds, 3.9) == 0
    assert read_level(ds, 4.0, tolerance=0.0) == 0
    assert read_level(ds, 1000.0) == 3 and read_level(ds, 0.5) == 0
