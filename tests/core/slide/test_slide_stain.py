"""Stain normalisation (core/slide/stain.py): torchstain's fits, one fixed transform per slide."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import EvidentError
from core.slide.colour import slide_stain_normaliser
from core.slide.reader import open_slide
from core.slide.stain import (
    LabStats,
    MacenkoStains,
    StainNormaliser,
    fit_normaliser,
    fit_stain,
    read_target_image,
    stained_pixels,
    tissue_pixels,
)


@pytest.fixture(scope="module")
def tissue(cmu_slide) -> np.ndarray:
    with open_slide(cmu_slide) as r:
        return np.ascontiguousarray(r.read_region((400, 700), 0, (512, 512))[..., :3])


@pytest.fixture(scope="module")
def target(tissue) -> np.ndarray:
    """A reference image stained differently: the same real tissue re-stained with torchstain's
    default reference stain vectors and a weaker eosin (Macenko's model, so it is a plausible H&E)."""
    src = fit_stain("macenko", tissue)
    ref = MacenkoStains(np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]]), src.max_c * np.array([1.2, 0.6]))
    ref = MacenkoStains(ref.he / np.linalg.norm(ref.he, axis=0), ref.max_c)
    return StainNormaliser("macenko", src, ref)(tissue)


def test_macenko_on_an_image_fitted_to_itself_is_torchstains_normalize(tissue, target):
    from torchstain.numpy.normalizers import NumpyMacenkoNormalizer

    ref = NumpyMacenkoNormalizer()
    ref.fit(target)
    expected, _, _ = ref.normalize(tissue)
    ours = fit_normaliser("macenko", tissue, target)(tissue)
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1  # torchstain truncates, we round


def test_reinhard_on_an_image_fitted_to_itself_is_torchstains_normalize(tissue, target):
    from torchstain.numpy.normalizers import NumpyReinhardNormalizer

    ref = NumpyReinhardNormalizer()
    ref.fit(target)
    expected = ref.normalize(tissue)
    ours = fit_normaliser("reinhard", tissue, target)(tissue)
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_normalised_slide_statistics_match_the_target(cmu_slide, target, method):
    """The real slide's tissue, normalised with its one per-slide fit, has the target's statistics:
    Macenko, the 99th-percentile stain concentrations in the target's stain basis and the refitted
    stain vectors; Reinhard, the LAB means and standard deviations (of stained pixels, both)."""
    with open_slide(cmu_slide) as r:
        norm = slide_stain_normaliser(r, method, target)
        before = tissue_pixels(r)
    after = norm(before[None])[0]
    ft = fit_stain(method, stained_pixels(target))
    fb, fa = fit_stain(method, before), fit_stain(method, after)
    if method == "macenko":
        od = -np.log((after.astype(float) + 1) / 240)
        conc99 = np.percentile(od @ np.linalg.pinv(ft.he).T, 99, axis=0)
        # 10 %: at the dark end (the 99th percentile) uint8 rounding of I = Io·exp(−OD) moves OD by several %
        assert np.allclose(conc99, ft.max_c, rtol=0.1), (conc99, ft.max_c)
        cos_after, cos_before = np.sum(fa.he * ft.he, axis=0), np.sum(fb.he * ft.he, axis=0)
        assert np.all(cos_after > 0.985) and np.all(cos_after > cos_before), (cos_after, cos_before)
    else:
        assert np.allclose(fa.mean, ft.mean, atol=1.0), (fa.mean, ft.mean)
        assert np.allclose(fa.std, ft.std, rtol=0.05), (fa.std, ft.std)
        assert not np.allclose(fb.mean, ft.mean, atol=3.0)


def test_one_transform_per_slide_neighbouring_tiles_agree(tissue, target):
    """Unlike a per-tile fit, the per-slide transform maps equal pixels in two tiles to equal pixels."""
    norm = fit_normaliser("macenko", tissue, target)
    a, b = norm(tissue[:256]), norm(tissue[200:456])
    assert np.array_equal(a[200:], b[:56])


def test_alpha_zero_pixels_are_left_alone(tissue, target):
    norm = fit_normaliser("reinhard", tissue, target)
    rgba = np.dstack([tissue[:32, :32], np.zeros((32, 32), np.uint8)])
    assert np.array_equal(norm(rgba), rgba)


def test_degenerate_inputs_are_refused(tmp_path):
    white = np.full((64, 64, 3), 250, np.uint8)
    with pytest.raises(ValueError, match="stain"):
        fit_stain("macenko", white)
    with pytest.raises(ValueError, match="spread"):
        fit_stain("reinhard", white)
    bad = tmp_path / "target.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(EvidentError, match="target.png"):
        read_target_image(bad)
    with pytest.raises(EvidentError, match="not found"):
        read_target_image(tmp_path / "missing.png")
    assert isinstance(fit_stain("reinhard", np.random.default_rng(0).integers(0, 255, (64, 3)).astype(np.uint8)),
                      LabStats)
