"""``evident extract`` with timm and named encoders on the real CMU region, writing TRIDENT's layout
that Evident's own readers (and TRIDENT) find."""

from __future__ import annotations

import numpy as np
import torch

from core.cli import main
from core.data.bags import read_bag
from core.data.feature_search import find_feature_file
from core.extract.encoders.foundation import FOUNDATION_ENCODERS
from core.extract.encoders.preprocess import Preprocess
from core.extract.encoders.timm_encoder import foundation_preprocess, timm_model
from core.extract.grid import build_grid
from core.extract.pipeline import read_patch
from core.extract.tissue import detect_tissue
from core.slide.reader import open_slide
from testkit.encoders import TINY_VIT, save_tiny_foundation


def test_timm_vit_small_end_to_end(cmu_slide, tmp_path, capsys):
    torch.manual_seed(0)
    model = timm_model("vit_small_patch16_224", num_classes=0).eval()
    torch.save(model.state_dict(), tmp_path / "W.pth")
    out = tmp_path / "job"
    rc = main(["extract", str(cmu_slide), "--out", str(out), "--encoder", "timm:vit_small_patch16_224",
               "--weights", str(tmp_path / "W.pth"), "--magnification", "5", "--device", "cpu", "--no-progress"])
    stdout, err = capsys.readouterr()
    assert rc == 0 and err == ""
    target = out / "5x_256px_0px_overlap" / "features_vit_small_patch16_224" / "cmu_small_region.h5"
    assert stdout.startswith(f"{target}\t") and "x 384 features" in stdout
    assert find_feature_file("cmu_small_region", out) == target  # from the job folder, as for TRIDENT's
    bag = read_bag(target)
    assert bag.features.shape == (len(bag.coords), 384) and 0 < len(bag.coords) <= 12
    assert bag.attrs["encoder"] == "vit_small_patch16_224" and bag.attrs["target_magnification"] == 5.0
    # the first patch's features are the model's output on that patch, through timm's eval transform
    import timm.data

    cfg = timm.data.resolve_model_data_config(model)
    pre = Preprocess(int(224 / cfg["crop_pct"]), 224, cfg["mean"], cfg["std"], cfg["interpolation"])
    with open_slide(cmu_slide) as reader:
        grid = build_grid(reader, detect_tissue(reader, downsample=4.0 * 256 / 16), target_mag=5.0, patch_size=256,
                          tissue_threshold=0.5, level0_mag=20.0)
        patch = read_patch(reader, *bag.coords[0], grid)
    with torch.inference_mode():
        ref = model(pre(torch.from_numpy(patch[None].copy()))).numpy()
    np.testing.assert_allclose(bag.features[0], ref[0], rtol=0, atol=1e-4)


def test_named_encoder_with_local_weights_uses_its_own_settings(cmu_slide, tmp_path, capsys):
    save_tiny_foundation("uni_v1", tmp_path / "uni" / "pytorch_model.bin")
    options = [f"--encoder-option={k}={v}" for k, v in TINY_VIT.items()]
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path / "job"), "--encoder", "uni_v1", "--weights",
               str(tmp_path / "uni" / "pytorch_model.bin"), *options, "--device", "cpu", "--no-progress"])
    stdout, err = capsys.readouterr()
    assert rc == 0 and err == ""
    # UNI: 256-px patches at 20x, as TRIDENT's README runs it
    target = tmp_path / "job" / "20x_256px_0px_overlap" / "features_uni_v1" / "cmu_small_region.h5"
    assert stdout.startswith(f"{target}\t")
    bag = read_bag(target)
    assert bag.features.shape[1] == TINY_VIT["embed_dim"] and bag.attrs["encoder"] == "uni_v1"
    assert bag.patch_size_level0 == 256 and np.isfinite(bag.features).all()
    assert foundation_preprocess(FOUNDATION_ENCODERS["uni_v1"]).crop == 224


def test_bad_weights_is_one_error_line(cmu_slide, tmp_path, capsys):
    torch.save({"not": torch.zeros(2)}, tmp_path / "W.pth")
    rc = main(["extract", str(cmu_slide), "--out", str(tmp_path / "job"), "--encoder", "uni_v1",
               "--weights", str(tmp_path / "W.pth"), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc != 0 and len(lines) == 1 and lines[0].startswith("error: ")
    assert str(tmp_path / "W.pth") in lines[0] and "unexpected keys: not" in lines[0] and "missing keys:" in lines[0]
    assert not (tmp_path / "job").exists()
