"""timm and named foundation encoders: transform, output width, file == in-memory, weight errors, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import EvidentError
from core.extract.encoders import build_encoder
from core.extract.encoders.foundation import FOUNDATION_ENCODERS, IMAGENET
from core.extract.encoders.timm_encoder import ModelEncoder, foundation_model, foundation_preprocess
from testkit.encoders import TINY_RESNET, TINY_VIT, save_state_dict, save_tiny_foundation, save_tiny_resnet

RNG = np.random.default_rng(0)
PATCHES = RNG.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(FOUNDATION_ENCODERS))
def test_full_size_architectures_give_the_declared_width(name):
    """The real-size models (built on the meta device: no memory, no weights) output spec.dim."""
    spec = FOUNDATION_ENCODERS[name]
    with torch.device("meta"):
        out = foundation_model(spec)(torch.zeros(2, 3, spec.crop, spec.crop))
    width = 2 * out.shape[-1] if spec.pooling == "cls_mean" else out.shape[-1]
    assert out.shape[0] == 2 and width == spec.dim


def test_uni_transform_resizes_and_normalises():
    pre = foundation_preprocess(FOUNDATION_ENCODERS["uni_v1"])
    x = torch.full((2, 256, 256, 3), 200, dtype=torch.uint8)
    t = pre(x)
    assert t.shape == (2, 3, 224, 224) and t.dtype == torch.float32
    mean, std = IMAGENET
    for c in range(3):
        assert torch.allclose(t[:, c], torch.full_like(t[:, c], (200 / 255 - mean[c]) / std[c]), atol=1e-5)


def test_gigapath_transform_keeps_the_centre_crop():
    """Resize(256) then CenterCrop(224): a 16-px frame of a 256-px patch is cut away."""
    pre = foundation_preprocess(FOUNDATION_ENCODERS["gigapath"])
    x = torch.full((1, 256, 256, 3), 90, dtype=torch.uint8)
    x[:, :16], x[:, -16:], x[:, :, :16], x[:, :, -16:] = 255, 255, 255, 255
    t = pre(x)
    assert t.shape == (1, 3, 224, 224)
    mean, std = IMAGENET
    assert torch.allclose(t[0, 0], torch.full((224, 224), (90 / 255 - mean[0]) / std[0]), atol=1e-5)


def test_conch_and_hoptimus_use_their_own_statistics():
    conch, hopt = FOUNDATION_ENCODERS["conch_v1"], FOUNDATION_ENCODERS["hoptimus0"]
    assert (conch.crop, conch.interpolation, conch.mean[0]) == (448, "bicubic", 0.48145466)
    t = foundation_preprocess(hopt)(torch.full((1, 224, 224, 3), 128, dtype=torch.uint8))
    assert torch.allclose(t[0, 1], torch.full((224, 224), (128 / 255 - 0.578729) / 0.230117), atol=1e-5)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".bin"])
def test_uni_from_file_equals_in_memory_model(tmp_path, suffix):
    model = save_tiny_foundation("uni_v1", tmp_path / f"uni{suffix}")
    from_file = build_encoder("uni_v1", weights=str(tmp_path / f"uni{suffix}"), device="cpu", model_options=TINY_VIT)
    in_memory = ModelEncoder(model, foundation_preprocess(FOUNDATION_ENCODERS["uni_v1"]), "uni_v1", device="cpu")
    a, b = from_file.encode(PATCHES), in_memory.encode(PATCHES)
    assert a.shape == (3, TINY_VIT["embed_dim"]) and from_file.dim == TINY_VIT["embed_dim"]
    np.testing.assert_array_equal(a, b)
    with torch.inference_mode():  # and both equal the plain forward of the transformed patches
        ref = model(foundation_preprocess(FOUNDATION_ENCODERS["uni_v1"])(torch.from_numpy(PATCHES))).numpy()
    np.testing.assert_allclose(a, ref, rtol=0, atol=1e-5)
    assert (from_file.name, from_file.patch_size, from_file.magnification) == ("uni_v1", 256, 20.0)


@pytest.mark.parametrize("name", ["uni_v2", "conch_v1", "virchow2", "hoptimus0", "gigapath"])
def test_every_named_encoder_loads_its_checkpoint_layout(tmp_path, name):
    model = save_tiny_foundation(name, tmp_path / "w.pth")
    enc = build_encoder(name, weights=str(tmp_path / "w.pth"), device="cpu", model_options=TINY_VIT)
    spec = FOUNDATION_ENCODERS[name]
    with torch.inference_mode():
        out = model(foundation_preprocess(spec)(torch.from_numpy(PATCHES[:2])))
    if spec.pooling == "cls_mean":  # Virchow2: class token and mean of the patch tokens after 4 registers
        out = torch.cat([out[:, 0], out[:, spec.prefix_tokens:].mean(1)], dim=-1)
    np.testing.assert_allclose(enc.encode(PATCHES[:2]), out.numpy(), rtol=0, atol=1e-5)


def test_timm_resnet_transform_width_and_channels_last(tmp_path):
    model = save_tiny_resnet(tmp_path / "r.pth")
    enc = build_encoder("timm:resnet18", weights=str(tmp_path / "r.pth"), device="cpu", model_options=TINY_RESNET)
    assert enc.dim == 64 and enc.channels_last  # a ResNet runs channels-last
    assert (enc.preprocess.resize, enc.preprocess.crop) == (int(224 / 0.95), 224)  # timm's crop_pct 0.95
    with torch.inference_mode():
        ref = model(enc.preprocess(torch.from_numpy(PATCHES))).numpy()
    np.testing.assert_allclose(enc.encode(PATCHES), ref, rtol=1e-5, atol=1e-5)


def test_precision_on_cpu_is_float32(tmp_path):
    save_tiny_foundation("uni_v2", tmp_path / "w.pth")  # TRIDENT runs UNI2 in bf16 on GPU
    enc = build_encoder("uni_v2", weights=str(tmp_path / "w.pth"), device="cpu", model_options=TINY_VIT)
    assert enc.precision == "fp32" and enc.encode(PATCHES[:1]).dtype == np.float32


def test_missing_weights_file_names_it(tmp_path):
    with pytest.raises(EvidentError) as err:
        build_encoder("uni_v1", weights=str(tmp_path / "nope.pth"), device="cpu", model_options=TINY_VIT)
    assert str(tmp_path / "nope.pth") in str(err.value) and "not found" in str(err.value)


def test_mismatched_weights_list_missing_unexpected_and_shapes(tmp_path):
    model = save_tiny_foundation("uni_v1", tmp_path / "ok.pth")
    sd = dict(model.state_dict())
    sd.pop("norm.weight")
    sd["extra.bias"] = torch.zeros(3)
    sd["head_drop.scale"] = torch.zeros(1)
    sd["cls_token"] = torch.zeros(1, 1, 49)
    bad = save_state_dict(sd, tmp_path / "bad.pth")
    with pytest.raises(EvidentError) as err:
        build_encoder("uni_v1", weights=str(bad), device="cpu", model_options=TINY_VIT)
    msg = str(err.value)
    assert msg.startswith(str(bad)) and "weights do not fit uni_v1" in msg
    assert "missing keys: norm.weight" in msg and "unexpected keys: extra.bias, head_drop.scale" in msg
    assert "shape mismatch: cls_token (1, 1, 49) in the file, (1, 1, 48) in the model" in msg


def test_not_a_weights_file(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"not a checkpoint")
    (tmp_path / "w.onnx").write_bytes(b"x")
    for name, needle in (("w.pth", "not a readable weights file"), ("w.onnx", "weights must be one of")):
        with pytest.raises(EvidentError) as err:
            build_encoder("timm:resnet18", weights=str(tmp_path / name), device="cpu", model_options=TINY_RESNET)
        assert str(tmp_path / name) in str(err.value) and needle in str(err.value)


def test_no_weights_and_empty_cache_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    import huggingface_hub

    def no_network(*a, **k):
        raise AssertionError("downloaded without --allow-download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    with pytest.raises(EvidentError) as err:
        build_encoder("uni_v1", device="cpu", model_options=TINY_VIT)
    assert "no weights for uni_v1" in str(err.value) and "MahmoodLab/UNI" in str(err.value)


def test_weights_from_the_local_hugging_face_cache(tmp_path, monkeypatch):
    """A repo snapshot in $HF_HOME/hub (the layout huggingface_hub writes) is found offline."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    repo = tmp_path / "hf" / "hub" / "models--MahmoodLab--UNI"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    model = save_tiny_foundation("uni_v1", repo / "snapshots" / "abc123" / "pytorch_model.bin")
    enc = build_encoder("uni_v1", device="cpu", model_options=TINY_VIT)
    ref = ModelEncoder(model, foundation_preprocess(FOUNDATION_ENCODERS["uni_v1"]), "uni_v1", device="cpu")
    np.testing.assert_array_equal(enc.encode(PATCHES[:1]), ref.encode(PATCHES[:1]))


def test_weights_flag_refused_for_builtin():
    with pytest.raises(EvidentError, match="--weights applies to timm:ARCH"):
        build_encoder("builtin", weights="w.pth")
