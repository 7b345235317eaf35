"""The built-in stain/texture encoder: interface, stain deconvolution, texture parts, real CMU tissue."""

from __future__ import annotations

import numpy as np
import pytest

from core.extract.encoders import build_encoder
from core.extract.encoders.builtin import FEATURES, StainTextureEncoder
from core.extract.encoders.stain import RUIFROK_HED, stain_densities
from core.extract.encoders.texture import count_blobs, glcm_features, lbp_riu2_histogram
from core.slide.reader import open_slide

# patches of the real CMU-1 region (level-0 top-left, 256 px at 20x), classified by eye
EPIDERMIS = [(1024, 768), (1024, 1024), (1024, 1792), (1024, 2048)]
DERMIS = [(1536, 2048), (1280, 2304), (1024, 2560), (1280, 2560), (768, 2304)]
BACKGROUND = [(0, 0), (0, 2560), (1792, 256), (256, 512)]


def _f(feats: np.ndarray, name: str) -> np.ndarray:
    return feats[:, FEATURES.index(name)]


@pytest.fixture(scope="module")
def cmu_patches(cmu_slide) -> dict[str, np.ndarray]:
    with open_slide(cmu_slide) as reader:
        return {name: np.stack([reader.read_region(xy, 0, (256, 256))[..., :3] for xy in locs])
                for name, locs in (("epidermis", EPIDERMIS), ("dermis", DERMIS), ("background", BACKGROUND))}


def test_interface_shape_dtype_and_names(rng):
    enc = build_encoder("builtin")
    assert isinstance(enc, StainTextureEncoder)
    assert enc.dim == len(FEATURES) == len(set(FEATURES)) and 64 <= enc.dim <= 128
    assert enc.name == "stain_texture_v1"
    x = rng.integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)
    out = enc.encode(x)
    assert out.shape == (3, enc.dim) and out.dtype == np.float32 and np.isfinite(out).all()
    assert enc.encode(x[:0]).shape == (0, enc.dim)
    with pytest.raises(ValueError):
        enc.encode(x.astype(np.float32))
    with pytest.raises(ValueError):
        enc.encode(x[:, :4, :4])


def test_batch_is_vectorised_per_patch_and_deterministic(rng):
    enc = StainTextureEncoder()
    x = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    x[1] = 240  # a flat patch next to noisy ones
    together = enc.encode(x)
    alone = np.concatenate([enc.encode(x[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(enc.encode(x), together)


def test_deconvolution_recovers_known_stain_amounts():
    m = RUIFROK_HED / np.linalg.norm(RUIFROK_HED, axis=1, keepdims=True)
    conc = np.array([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.0, 0.5, 0.0], [0.4, 0.3, 0.0]])
    od = conc @ m  # (4, 3)
    rgb = np.clip(np.rint(256.0 * 10.0 ** (-od) - 1.0), 0, 255).astype(np.uint8)[None]  # (1, 4, 3)
    hed, _ = stain_densities(rgb)
    np.testing.assert_allclose(hed[0], conc, atol=0.02)


def test_white_and_stained_synthetic_patches():
    enc = StainTextureEncoder()
    white = np.full((1, 32, 32, 3), 255, np.uint8)
    purple = np.zeros((1, 32, 32, 3), np.uint8)
    purple[:] = (90, 50, 140)  # haematoxylin-like
    pink = np.zeros((1, 32, 32, 3), np.uint8)
    pink[:] = (240, 130, 190)  # eosin-like
    f = enc.encode(np.concatenate([white, purple, pink]))
    assert _f(f, "background_fraction")[0] == 1.0 and _f(f, "nuclear_fraction")[0] == 0.0
    assert _f(f, "h_mean")[1] > _f(f, "e_mean")[1] and _f(f, "e_mean")[2] > _f(f, "h_mean")[2]
    assert _f(f, "h_hist_00")[0] == 1.0 and _f(f, "e_hist_00")[0] == 1.0
    np.testing.assert_allclose(_f(f, "r_mean"), [1.0, 90 / 255, 240 / 255], atol=1e-6)
    np.testing.assert_allclose(_f(f, "r_p50"), [1.0, 90 / 255, 240 / 255], atol=1e-6)
    assert np.all(_f(f, "grad_mean") == 0) and np.all(_f(f, "glcm1_contrast") == 0)


def test_texture_parts():
    flat = np.full((1, 8, 8), 100, np.uint8)
    assert lbp_riu2_histogram(flat)[0, 8] == 1.0  # every neighbour >= centre
    cheq = ((np.indices((8, 8)).sum(axis=0) % 2) * 255).astype(np.uint8)[None]
    g = glcm_features(cheq, 1)[0]  # neighbours always differ by 7 levels
    assert g[0] == pytest.approx(49.0) and g[3] == pytest.approx(-1.0)
    g2 = glcm_features(cheq, 2)[0]  # at distance 2 always equal
    assert g2[0] == 0.0 and g2[3] == pytest.approx(1.0)
    mask = np.zeros((3, 20, 20), bool)
    mask[0, 2:6, 2:6] = mask[0, 10:15, 10:15] = True  # two blobs
    mask[1, 0, 0] = True  # one pixel: too small
    mask[2, 5:12, 5:12] = True
    np.testing.assert_array_equal(count_blobs(mask, 10), [2, 0, 1])


def test_separates_real_tissue_types(cmu_patches):
    enc = StainTextureEncoder()
    f = {k: enc.encode(v) for k, v in cmu_patches.items()}
    # epidermis: nuclei-dense; dermis: collagen (eosin); background: glass
    assert _f(f["epidermis"], "nuclear_fraction").min() > 2 * _f(f["dermis"], "nuclear_fraction").max()
    assert _f(f["epidermis"], "nuclei_per_10k_px").min() > _f(f["dermis"], "nuclei_per_10k_px").max()
    assert _f(f["dermis"], "eosin_fraction").min() > _f(f["epidermis"], "eosin_fraction").max()
    assert _f(f["background"], "background_fraction").min() > 0.9
    assert max(_f(f["epidermis"], "background_fraction").max(), _f(f["dermis"], "background_fraction").max()) < 0.5
    # and as a whole vector: leave-one-out nearest centroid on z-scored features is always right
    feats = np.concatenate([f["epidermis"], f["dermis"], f["background"]]).astype(np.float64)
    labels = np.repeat([0, 1, 2], [len(EPIDERMIS), len(DERMIS), len(BACKGROUND)])
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
    for i in range(len(z)):
        rest = np.arange(len(z)) != i
        centroids = np.stack([z[rest & (labels == k)].mean(0) for k in range(3)])
        assert np.argmin(((centroids - z[i]) ** 2).sum(1)) == labels[i], f"patch {i} misclassified"
