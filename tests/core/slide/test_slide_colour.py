"""True colour: a slide's embedded ICC profile to sRGB (core/slide/colour.py), on real tissue."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import EvidentError
from core.slide.colour import ColouredSource, IccToSrgb, icc_to_srgb
from core.slide.reader import open_slide
from testkit.colour import expected_srgb, matrix_trc_profile, write_tiff_with_profile


@pytest.fixture(scope="module")
def tissue_rgb(cmu_slide) -> np.ndarray:
    with open_slide(cmu_slide) as r:
        return np.ascontiguousarray(r.read_region((600, 900), 0, (768, 512))[..., :3])


@pytest.fixture(scope="module")
def profiled_slide(tissue_rgb, tmp_path_factory):
    return write_tiff_with_profile(tmp_path_factory.mktemp("icc") / "adobe.tif", tissue_rgb, matrix_trc_profile())


def test_reader_exposes_the_embedded_profile_and_none_without(profiled_slide, cmu_slide, tissue_rgb, tmp_path):
    with open_slide(profiled_slide) as r:
        assert r.icc_profile is not None and r.icc_profile[36:40] == b"acsp"
        assert r.icc_profile[16:20] == b"RGB "
    plain = write_tiff_with_profile(tmp_path / "plain.tif", tissue_rgb, None)
    with open_slide(plain) as r:
        assert r.icc_profile is None
        assert icc_to_srgb(r) is None


def test_true_colour_pixels_match_an_independent_conversion(profiled_slide, tissue_rgb):
    """Before: the file's pixels (Adobe RGB values). After: sRGB, as computed by hand from the
    profile's colorants and curves (not by littleCMS), within one grey level."""
    with open_slide(profiled_slide) as r:
        source = ColouredSource(r, [icc_to_srgb(r)])
        raw = r.read_region((100, 50), 0, (256, 256))
        shown = source.read_region((100, 50), 0, (256, 256))
    before = tissue_rgb[50:306, 100:356]
    assert np.array_equal(raw[..., :3], before)                     # the reader itself does not convert
    expected = expected_srgb(before.reshape(-1, 3)).reshape(before.shape)
    assert np.abs(shown[..., :3].astype(float) - expected).max() <= 1.0
    assert np.percentile(np.abs(shown[..., :3].astype(int) - before.astype(int)), 99) >= 10  # a visible change
    assert np.array_equal(shown[..., 3], raw[..., 3])


def test_an_srgb_profile_changes_nothing_and_alpha_is_kept(tissue_rgb):
    from testkit.colour import SRGB_D50

    srgb_like = IccToSrgb(matrix_trc_profile(SRGB_D50, gamma=2.2))
    rgba = np.dstack([tissue_rgb[:64, :64], np.where(np.arange(64) < 32, 0, 255).astype(np.uint8)[None].repeat(64, 0)])
    out = srgb_like(rgba)
    assert np.array_equal(out[..., 3], rgba[..., 3])
    # gamma 2.2 vs the sRGB curve differ a little in the darks only
    assert np.abs(out[..., :3].astype(int) - rgba[..., :3].astype(int)).mean() < 2.5


def test_a_broken_profile_is_one_clear_error_naming_the_slide(profiled_slide):
    class Fake:
        path = profiled_slide
        icc_profile = b"not an icc profile at all" * 8

    with pytest.raises(EvidentError, match="adobe.tif.*ICC"):
        icc_to_srgb(Fake())


def test_coloured_thumbnail_is_converted_too(profiled_slide):
    with open_slide(profiled_slide) as r:
        plain = r.get_thumbnail((128, 128))
        shown = ColouredSource(r, [icc_to_srgb(r)]).get_thumbnail((128, 128))
    assert plain.shape == shown.shape
    assert np.percentile(np.abs(plain[..., :3].astype(int) - shown[..., :3].astype(int)), 99) >= 10
