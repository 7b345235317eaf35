"""The pyramidal TIFF writer: OpenSlide sees every level, the mpp and the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from core.demo.tiff_writer import downsample2, write_pyramid_tiff


def test_downsample2_is_the_rounded_box_mean():
    img = np.array([[[0, 0, 0], [1, 2, 3]], [[2, 4, 6], [3, 255, 9]], [[9, 9, 9], [9, 9, 9]]], dtype=np.uint8)
    out = downsample2(img)  # the odd last row is dropped
    assert out.shape == (1, 1, 3)
    np.testing.assert_array_equal(out[0, 0], [2, 65, 5])  # (0+1+2+3+2)//4, (0+2+4+255+2)//4, (0+3+6+9+2)//4


def test_openslide_reads_all_levels_mpp_and_pixels(tmp_path):
    import openslide

    yy, xx = np.mgrid[0:700, 0:1100]
    img = np.stack([(xx // 4) % 256, (yy // 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)  # smooth
    out = write_pyramid_tiff(tmp_path / "s.tiff", img, mpp=0.5, tile=256, quality=95)
    with openslide.OpenSlide(str(out)) as s:
        assert s.dimensions == (1100, 700)
        assert s.level_dimensions == ((1100, 700), (550, 350), (275, 175), (137, 87))
        assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.5)
        l0 = np.asarray(s.read_region((0, 0), 0, (1100, 700)))[..., :3].astype(int)
        l1 = np.asarray(s.read_region((0, 0), 1, (550, 350)))[..., :3].astype(int)
    assert np.abs(l0 - img).mean() < 3
    assert np.abs(l1 - downsample2(img)).mean() < 3
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_arguments_leave_nothing(tmp_path):
    with pytest.raises(ValueError, match="tile"):
        write_pyramid_tiff(tmp_path / "a.tiff", np.zeros((8, 8, 3), np.uint8), 0.5, tile=100)
    with pytest.raises(ValueError, match="uint8"):
        write_pyramid_tiff(tmp_path / "a.tiff", np.zeros((8, 8), np.float32), 0.5)
    assert list(tmp_path.iterdir()) == []
