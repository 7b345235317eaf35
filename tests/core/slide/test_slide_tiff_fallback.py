"""Slides OpenSlide cannot open: a JPEG 2000 OME-TIFF pyramid of real tissue opens through tifffile.

The fixture (tests/conftest.py ``ome_pyramid``) writes the real CMU region as 3 levels (SubIFDs,
OME PhysicalSize 0.499 µm) and the same pixels as a deflate pyramid OpenSlide reads; the fallback
must give the source pixels at every level, with OpenSlide's region semantics.
"""

from __future__ import annotations

import h5py
import numpy as np
import openslide
import pytest

from core.cli import main
from core.errors import EvidentError
from core.slide.reader import open_slide
from testkit.ome_tiff import padded

WINDOWS = [((0, 0), (300, 200)), ((777, 1301), (256, 256)), ((-40, -25), (120, 90)),  # level px origin, size
           ((2100, 2900), (300, 200)), ((5000, 5000), (16, 16))]


def test_openslide_refuses_the_ome_tiff(ome_pyramid) -> None:
    with pytest.raises(openslide.OpenSlideError, match="Unsupported TIFF compression"):
        openslide.OpenSlide(ome_pyramid["ome"])


def test_fallback_reader_has_the_pyramid_and_the_pixel_size(ome_pyramid) -> None:
    levels = ome_pyramid["levels"]
    with open_slide(ome_pyramid["ome"]) as r, open_slide(ome_pyramid["plain"]) as plain:
        assert plain.vendor == "generic-tiff"  # what OpenSlide opens stays OpenSlide's
        assert r.vendor == "tifffile" and r.format == "ome-tiff"
        assert r.level_count == 3 and r.level_dimensions == tuple((lv.shape[1], lv.shape[0]) for lv in levels)
        assert r.level_dimensions == plain.level_dimensions
        np.testing.assert_allclose(r.level_downsamples, plain.level_downsamples, rtol=1e-12)
        assert r.mpp == pytest.approx(0.499) and r.objective_power == 20.0
        assert r.metadata()["associated_images"] == []
        for d in (0.5, 1.0, 1.9, 2.0, 3.99, 4.0, 100.0):
            assert r.best_level_for_downsample(d) == plain.best_level_for_downsample(d)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_read_region_matches_the_source_and_openslide_semantics(ome_pyramid, level) -> None:
    with open_slide(ome_pyramid["ome"]) as r, open_slide(ome_pyramid["plain"]) as plain:
        d = r.level_downsamples[level]  # 2.0003 and 4.002 (odd heights): OpenSlide's mean of the two ratios
        for (x, y), size in WINDOWS:
            loc = (int(round(x * d)), int(round(y * d)))  # level pixel (x, y) in level-0 coordinates
            got = r.read_region(loc, level, size)
            assert got.shape == (size[1], size[0], 4) and got.dtype == np.uint8
            np.testing.assert_array_equal(got, padded(ome_pyramid["levels"][level], x, y, *size))  # source, exactly
            if level == 0:  # OpenSlide interpolates fractional level origins; at level 0 it must agree exactly
                np.testing.assert_array_equal(got, plain.read_region(loc, level, size))  # incl. its padding
        assert r.read_region((-10_000, 0), level, (8, 8)).max() == 0  # all outside: transparent black


def test_thumbnail_is_openslides(ome_pyramid) -> None:
    with open_slide(ome_pyramid["ome"]) as r, open_slide(ome_pyramid["plain"]) as plain:
        a, b = r.get_thumbnail((300, 300)), plain.get_thumbnail((300, 300))
    assert a.shape == b.shape and a.shape[2] == 3
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_neither_reader_is_one_clear_error(ome_pyramid, tmp_path, capsys) -> None:
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(ome_pyramid["ome"].read_bytes()[:4096])  # the first IFD survives, its tiles are gone
    with open_slide(cut) as r, pytest.raises(EvidentError, match=r"cannot decode tile 0 of level 0 \(Jpeg2kError") as e:
        r.read_region((0, 0), 0, (512, 512))
    assert str(e.value).startswith(f"{cut}: ")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + bytes(64))
    with pytest.raises(EvidentError, match=r"neither reader can open it: OpenSlide: .*; tifffile: .*\(contains no pages\)"):
        open_slide(junk)
    assert capsys.readouterr().err == ""  # what tifffile logged is in the one error, not on stderr


def test_evident_extract_reads_it_like_the_openslide_copy(ome_pyramid, tmp_path, capsys) -> None:
    for key in ("ome", "plain"):
        assert main(["extract", str(ome_pyramid[key]), "--out", str(tmp_path / key), "--no-progress"]) == 0
    capsys.readouterr()
    (a,) = (tmp_path / "ome").rglob("*.h5")
    (b,) = (tmp_path / "plain").rglob("*.h5")
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert fa["features"].shape[0] > 20
        np.testing.assert_array_equal(fa["coords"][:], fb["coords"][:])
        np.testing.assert_allclose(fa["features"][:], fb["features"][:], rtol=1e-5, atol=1e-5)


def test_concurrent_reads_give_the_serial_pixels(ome_pyramid) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    jobs = [((int(rng.integers(-100, 2200)), int(rng.integers(-100, 2900))), int(rng.integers(0, 3))) for _ in range(48)]
    with open_slide(ome_pyramid["ome"]) as r, ThreadPoolExecutor(8) as pool:  # tile workers share one reader
        got = list(pool.map(lambda j: r.read_region(j[0], j[1], (200, 150)), jobs))
        downsamples = r.level_downsamples
    for (loc, level), g in zip(jobs, got, strict=True):
        d = downsamples[level]
        x, y = int(np.floor(loc[0] / d + 0.5)), int(np.floor(loc[1] / d + 0.5))
        np.testing.assert_array_equal(g, padded(ome_pyramid["levels"][level], x, y, 200, 150))
