"""Pen, fold and blur detectors on real CMU-1 tissue: clean windows score low, planted artefacts high,
and the audit's slide score sees an artefact planted into the slide file (docs/results_explain.md §9b)."""

from __future__ import annotations

import numpy as np
import pytest

from core.diagnostics.artifact_detectors import (
    ArtifactParts,
    blur_scores,
    detector_measures,
    fold_mask,
    patch_artifact_parts,
    pen_mask,
)
from core.diagnostics.artifacts import slide_artifact_parts, slide_artifact_scores
from core.extract.grid import grid_coords
from core.train.attention_failure_tissue import CMU_MPP, DERMIS, EPIDERMIS, bank_patches, make_artefact
from testkit.ome_tiff import cmu_levels, write_plain_pyramid

PATCH = 256


@pytest.fixture(scope="module")
def windows(cmu_slide):
    """The demo's 36 dermis and 46 epidermis windows (no symmetries, no artefacts): (x, types)."""
    x, types, *_ = bank_patches(cmu_slide, symmetries=1, n_artefacts=0)
    keep = np.isin(types, (DERMIS, EPIDERMIS))
    return x[keep], types[keep]


def test_clean_tissue_scores_low(windows):
    x, types = windows
    assert (types == DERMIS).sum() == 36 and (types == EPIDERMIS).sum() == 46
    parts = patch_artifact_parts(x, CMU_MPP)
    for name in ("pen", "fold", "blur"):
        fpr = float(np.mean(getattr(parts, name) > 0.5))
        assert fpr == 0.0, f"{name} calls {fpr:.0%} of clean dermis/epidermis windows artefact"
    assert np.all(parts.combined <= 0.5)


@pytest.mark.parametrize("kind, part", [("pen", "pen"), ("blur", "blur")])
def test_planted_artefacts_score_high(windows, kind, part):
    x, types = windows
    rng = np.random.default_rng(1)
    derm = x[types == DERMIS]
    planted = np.stack([make_artefact(p, kind, rng) for p in derm])
    pen, fold, lap = detector_measures(x, CMU_MPP)
    ref = float(np.nanmedian(lap))  # the "slide": the clean windows
    parts = patch_artifact_parts(planted, CMU_MPP, blur_reference=ref)
    tpr = float(np.mean(getattr(parts, part) > 0.5))
    assert tpr >= 0.95, f"{kind} planted on real dermis: only {tpr:.0%} detected"
    assert np.all(parts.dominant()[getattr(parts, part) > 0.5] == part)
    clean = patch_artifact_parts(derm, CMU_MPP, blur_reference=ref)
    assert np.all(getattr(clean, part) <= 0.5)  # the same windows without the artefact


def test_fold_rule_marks_dense_doubled_tissue(windows):
    """A fold of epidermis (the densest tissue over itself) is darker and more saturated than any tissue;
    a fold of pale dermis is not (colour alone cannot tell it from epidermis: the documented limit)."""
    x, types = windows
    epi = x[types == EPIDERMIS]
    doubled = np.clip(np.rint(epi.astype(np.float64) * epi[:, ::-1, ::-1] / 255.0), 0, 255).astype(np.uint8)
    assert fold_mask(doubled).mean() > 4 * max(fold_mask(epi).mean(), 0.01)
    assert np.mean(patch_artifact_parts(doubled, CMU_MPP).fold > 0.5) >= 0.9


def test_ink_colours_by_the_published_rules():
    px = np.array([[[[40, 50, 130], [30, 90, 50], [220, 170, 200], [150, 80, 130], [255, 255, 255]]]], np.uint8)
    assert pen_mask(px)[0, 0].tolist() == [True, True, False, False, False]  # blue, green ink; H&E, glass


def test_blur_is_relative_to_the_reference():
    v = np.array([1.0, 0.5, 1 / np.sqrt(10), 0.1, 0.01, np.nan])
    s = blur_scores(v, reference=1.0)
    assert s[0] == 0 and 0 < s[1] < 0.5 and s[2] == pytest.approx(0.5) and s[3] == pytest.approx(1) and s[4] == 1
    assert s[5] == 0  # too little tissue to judge
    assert blur_scores(v * 7)[0] == blur_scores(v)[0]  # the default reference scales with the slide


def test_parts_combine_by_maximum():
    p = ArtifactParts(np.array([0.9, 0.0, 0.1]), np.array([0.0, 0.7, 0.2]), np.zeros(3), np.array([0.0, 0.0, 0.3]))
    assert p.combined.tolist() == [0.9, 0.7, 0.3] and p.dominant().tolist() == ["background", "pen", "blur"]


def test_slide_score_sees_artefacts_planted_in_the_slide(cmu_slide, tmp_path):
    """Guard: the audit's slide score (what `evident audit` and `evident report` call) must see a pen stroke
    and an out-of-focus patch written into the slide file; the background score alone does not."""
    levels, mpp = cmu_levels(cmu_slide, 2)
    clean_path = write_plain_pyramid(tmp_path / "clean.tif", levels, mpp)
    h, w = levels[0].shape[:2]
    coords = grid_coords(w, h, PATCH)
    before = slide_artifact_parts(clean_path, coords, PATCH)
    tissue = np.flatnonzero(before.combined < 0.2)
    assert tissue.size >= 10
    rng = np.random.default_rng(0)
    pen_idx, blur_idx = tissue[:3], tissue[3:6]
    img = levels[0].copy()
    for idx, kind in ((pen_idx, "pen"), (blur_idx, "blur")):
        for i in idx:
            x0, y0 = (int(v) for v in coords[i])
            img[y0:y0 + PATCH, x0:x0 + PATCH] = make_artefact(img[y0:y0 + PATCH, x0:x0 + PATCH], kind, rng)
    from core.demo.tiff_writer import downsample2

    planted_path = write_plain_pyramid(tmp_path / "planted.tif", [img, downsample2(img)], mpp)
    after = slide_artifact_parts(planted_path, coords, PATCH)
    scores = slide_artifact_scores(planted_path, coords, PATCH)
    np.testing.assert_allclose(scores, after.combined)
    assert np.all(after.background[np.r_[pen_idx, blur_idx]] < 0.5), "the tissue mask alone misses them"
    assert np.all(scores[pen_idx] > 0.5) and np.all(after.dominant()[pen_idx] == "pen")
    assert np.all(scores[blur_idx] > 0.5) and np.all(after.dominant()[blur_idx] == "blur")
    rest = np.setdiff1d(tissue, np.r_[pen_idx, blur_idx])
    assert np.all(scores[rest] <= 0.5)
    # scored on demand (what the audit and the report do): the same values on the patches asked for,
    # nothing read or scored for the others, and a key that follows the slide file
    from core.diagnostics.artifacts import SlideArtifactSource, reference_sample

    asked = np.r_[pen_idx[:2], blur_idx[:1], rest[:2]]
    part = SlideArtifactSource(str(planted_path), coords, PATCH).parts(asked)
    for name in after._fields:
        np.testing.assert_allclose(getattr(part, name)[asked], getattr(after, name)[asked], err_msg=name)
    others = np.setdiff1d(np.arange(len(coords)), asked)
    assert not part.pen[others].any() and not part.blur[others].any() and not part.fold[others].any()
    np.testing.assert_allclose(part.background, after.background)
    assert SlideArtifactSource(str(planted_path), coords, PATCH).key() != SlideArtifactSource(str(clean_path), coords,
                                                                                                PATCH).key()
    assert reference_sample(np.arange(2000), 512).size == 512 and reference_sample(np.arange(7), 512).size == 7
