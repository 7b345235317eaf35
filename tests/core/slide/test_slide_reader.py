"""SlideReader on the real CMU slide, plain images, non-ASCII paths, bad and corrupt files."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import openslide
import pytest
from PIL import Image

from core.errors import EvidentError
from core.slide.reader import _read_mpp, _read_objective, open_slide


def test_real_slide_metadata(cmu_slide):
    with open_slide(cmu_slide) as r:
        assert r.dimensions == (2220, 2967)
        assert r.level_count == 1 and r.level_dimensions == ((2220, 2967),) and r.level_downsamples == (1.0,)
        assert r.mpp == pytest.approx(0.499)
        assert r.objective_power == 20
        assert r.vendor == "aperio"
        meta = r.metadata()
    for key in ("dimensions", "level_count", "level_dimensions", "level_downsamples", "mpp",
                "objective_power", "vendor", "path", "associated_images"):
        assert key in meta
    assert meta["dimensions"] == [2220, 2967] and meta["associated_images"] == ["label", "macro", "thumbnail"]


def test_real_slide_pixels_match_openslide(cmu_slide):
    ref = openslide.OpenSlide(cmu_slide)
    expect = np.asarray(ref.read_region((1200, 1200), 0, (257, 129)))
    ref.close()
    with open_slide(cmu_slide) as r:
        got = r.read_region((1200, 1200), 0, (257, 129))
        assert got.shape == (129, 257, 4) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, expect)
        assert got[..., :3].std() > 10  # real tissue, not a flat colour
        # outside the slide: transparent
        assert r.read_region((2200, 0), 0, (40, 10))[:, 30:, 3].max() == 0
        th = r.get_thumbnail((256, 256))
        assert th.dtype == np.uint8 and th.ndim == 3 and th.shape[2] == 3
        assert max(th.shape[:2]) == 256 and th.shape[1] <= 256
        assoc = r.associated_images()
        assert set(assoc) == {"label", "macro", "thumbnail"}
        assert all(a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 for a in assoc.values())
        assert r.best_level_for_downsample(8.0) == 0
        with pytest.raises(ValueError):
            r.read_region((0, 0), 1, (10, 10))


def test_non_ascii_path_works(cmu_slide, tmp_path):
    folder = tmp_path / "スライド é"
    folder.mkdir()
    copy = folder / "cmu.svs"
    shutil.copy(cmu_slide, copy)
    with open_slide(copy) as r, open_slide(cmu_slide) as ref:
        assert r.dimensions == ref.dimensions and r.mpp == ref.mpp
        np.testing.assert_array_equal(r.read_region((10, 20), 0, (64, 64)), ref.read_region((10, 20), 0, (64, 64)))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_plain_images_open_through_the_image_fallback(cmu_slide, tmp_path, suffix):
    with open_slide(cmu_slide) as r:
        rgb = r.read_region((500, 500), 0, (300, 200))[..., :3].copy()
    path = tmp_path / f"patch{suffix}"
    Image.fromarray(rgb).save(path, quality=95)
    with open_slide(path) as r:
        assert r.dimensions == (300, 200) and r.level_count == 1
        assert r.vendor is None and r.mpp is None and r.objective_power is None
        assert r.metadata()["format"] in {"png", "jpeg"}
        got = r.read_region((10, 20), 0, (50, 40))
        assert got.shape == (40, 50, 4) and (got[..., 3] == 255).all()
        diff = np.abs(got[..., :3].astype(int) - rgb[20:60, 10:60].astype(int))
        assert diff.max() == 0 if suffix == ".png" else diff.mean() < 4
        assert r.get_thumbnail((100, 100)).shape == (67, 100, 3)
        assert r.associated_images() == {}


def test_missing_folder_and_unsupported_files(tmp_path, file_digest):
    with pytest.raises(EvidentError, match="no such file") as ei:
        open_slide(tmp_path / "nope.svs")
    assert ei.value.path == str(tmp_path / "nope.svs")
    with pytest.raises(EvidentError, match="folder"):
        open_slide(tmp_path)
    fake = tmp_path / "fake.svs"
    fake.write_text("this is not a slide\n")
    digest = file_digest(fake)
    with pytest.raises(EvidentError, match="not a slide format") as ei:
        open_slide(fake)
    assert ei.value.path == str(fake) and file_digest(fake) == digest
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(EvidentError, match="cannot read image"):
        open_slide(bad_png)


def test_corrupt_tile_raises_at_read_time_and_reader_recovers(make_corrupt_tiff, file_digest):
    path = make_corrupt_tiff(bad_tiles=[5])  # tile col 1, row 1
    digest = file_digest(path)
    with open_slide(path) as r:  # opens fine: the failure comes at read time
        assert r.dimensions == (1024, 1024) and r.vendor == "generic-tiff"
        good = r.read_region((0, 0), 0, (256, 256))
        with pytest.raises(EvidentError, match=r"cannot decode region x=256 y=256 level=0") as ei:
            r.read_region((256, 256), 0, (256, 256))
        assert ei.value.path == str(path)
        # the handle was replaced: other tiles still read, and identically
        np.testing.assert_array_equal(r.read_region((0, 0), 0, (256, 256)), good)
        assert r.read_region((768, 768), 0, (256, 256)).shape == (256, 256, 4)
        with pytest.raises(EvidentError):
            r.read_region((256, 256), 0, (10, 10))
    assert file_digest(path) == digest


def test_one_handle_shared_by_threads(cmu_slide):
    locs = [(int(x), int(y)) for x, y in np.random.default_rng(0).integers(0, 1900, (40, 2))]
    with open_slide(cmu_slide) as r:
        serial = [r.read_region(loc, 0, (128, 128)) for loc in locs]
        out: list = [None] * len(locs)

        def work(idx):
            for i in idx:
                out[i] = r.read_region(locs[i], 0, (128, 128))

        threads = [threading.Thread(target=work, args=(range(t, len(locs), 4),)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for a, b in zip(serial, out):
        np.testing.assert_array_equal(a, b)


def test_closed_reader_refuses_reads(cmu_slide):
    r = open_slide(cmu_slide)
    r.close()
    r.close()  # idempotent
    with pytest.raises(EvidentError, match="closed"):
        r.read_region((0, 0), 0, (8, 8))


def test_mpp_from_tiff_resolution_tags_and_derived_objective():
    assert _read_mpp({"openslide.mpp-x": "0.25", "openslide.mpp-y": "0.26"}) == pytest.approx(0.255)
    tags = {"tiff.ResolutionUnit": "centimeter", "tiff.XResolution": "20040.08", "tiff.YResolution": "20040.08"}
    assert _read_mpp(tags) == pytest.approx(0.499, abs=1e-6)
    assert _read_mpp({**tags, "tiff.ResolutionUnit": "inch"}) == pytest.approx(25400 / 20040.08, abs=1e-6)
    # the 72-dpi default of image writers is not a microscope scale
    assert _read_mpp({"tiff.ResolutionUnit": "inch", "tiff.XResolution": "72", "tiff.YResolution": "72"}) is None
    assert _read_mpp({"tiff.ResolutionUnit": "none", "tiff.XResolution": "1", "tiff.YResolution": "1"}) is None
    assert _read_mpp({}) is None
    assert _read_objective({"openslide.objective-power": "40"}, 0.499) == 40
    assert _read_objective({}, 0.499) == 20
    assert _read_objective({}, 0.2265) == 40  # Hamamatsu 40x
    assert _read_objective({}, 1.0) == 10
    assert _read_objective({}, None) is None


def test_large_plain_image_opens_without_warning_and_huge_one_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # scaled-down stand-in for Pillow's limit
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(big)  # 1600 px: over the warning limit
    with open_slide(big) as r:  # warnings are errors in the tests: none may escape
        assert r.dimensions == (40, 40)
    huge = tmp_path / "huge.png"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(huge)  # over twice the limit
    with pytest.raises(EvidentError, match="cannot read image"):
        open_slide(huge)


def test_png_with_an_unusual_suffix_still_opens(tmp_path):
    path = tmp_path / "scan.img"
    Image.fromarray(np.full((12, 34, 3), 77, np.uint8)).save(path, format="PNG")
    with open_slide(path) as r:
        assert r.dimensions == (34, 12) and r.metadata()["format"] == "png"
        assert (r.read_region((0, 0), 0, (34, 12))[..., :3] == 77).all()
