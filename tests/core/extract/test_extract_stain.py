"""``evident extract --stain-norm``: features of stain-normalised patches, the same pixels the viewer shows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.slide.reader import open_slide


@pytest.fixture(scope="module")
def target_png(cmu_slide, tmp_path_factory):
    """A reference image: real CMU tissue re-stained (haematoxylin bluer, eosin paler)."""
    from core.slide.stain import MacenkoStains, StainNormaliser, fit_stain

    with open_slide(cmu_slide) as r:
        tissue = np.ascontiguousarray(r.read_region((400, 700), 0, (512, 512))[..., :3])
    src = fit_stain("macenko", tissue)
    he = np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])
    ref = MacenkoStains(he / np.linalg.norm(he, axis=0), src.max_c * np.array([1.2, 0.6]))
    path = tmp_path_factory.mktemp("stain") / "target.png"
    Image.fromarray(StainNormaliser("macenko", src, ref)(tissue)).save(path)
    return path


def _features(folder):
    from core.data.bags import read_bag

    bag = read_bag(next(folder.rglob("*.h5")))
    return bag.features, bag.coords, bag.attrs


@pytest.mark.parametrize("method", ["macenko", "reinhard"])
def test_stain_normalised_features_are_the_viewers_pixels_encoded(cmu_slide, target_png, tmp_path, capsys, method):
    from core.extract.encoders import build_encoder
    from core.extract.grid import build_grid, level0_magnification
    from core.extract.pipeline import read_patch
    from core.slide.colour import ColouredSource, slide_stain_normaliser
    from core.slide.stain import read_target_image

    plain, normed = tmp_path / "plain", tmp_path / "normed"
    assert main(["extract", str(cmu_slide), "--out", str(plain), "--no-progress"]) == 0
    assert main(["extract", str(cmu_slide), "--out", str(normed), "--no-progress", "--stain-norm", method,
                 "--stain-target", str(target_png)]) == 0
    capsys.readouterr()
    f0, c0, _ = _features(plain)
    f1, c1, attrs = _features(normed)
    assert np.array_equal(c0, c1)                       # the same patches (tissue found on the raw slide)
    assert attrs.get("stain_norm") == method and len(str(attrs.get("stain_target"))) == 64
    assert np.abs(f1 - f0).mean() > 1e-3                # the stain changes the features
    # the same features from the viewer's display path (core.slide.colour), patch by patch
    encoder = build_encoder("builtin")
    with open_slide(cmu_slide) as r:
        shown = ColouredSource(r, [slide_stain_normaliser(r, method, read_target_image(target_png))])
        from core.extract.tissue import detect_tissue

        mag0 = level0_magnification(r.objective_power, r.mpp, cmu_slide)
        grid = build_grid(r, detect_tissue(r, downsample=max(1.0, 256 * mag0 / 20 / 16.0)), target_mag=20,
                          patch_size=256, tissue_threshold=0.5, level0_mag=mag0)
        pick = np.arange(0, len(grid.coords), max(1, len(grid.coords) // 8))
        batch = np.stack([read_patch(shown, x, y, grid) for x, y in grid.coords[pick]])
    assert np.allclose(encoder.encode(batch), f1[pick], atol=1e-5)


def test_stain_options_refused_clearly(cmu_slide, tmp_path, capsys):
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path / "a"), "--stain-norm", "reinhard"])
    err = capsys.readouterr().err
    assert rc != 0 and "needs --stain-target" in err and "Traceback" not in err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path / "b"), "--stain-norm", "macenko",
               "--stain-target", str(bad)])
    err = capsys.readouterr().err
    assert rc != 0 and "bad.png" in err and not (tmp_path / "b").exists()
