"""Model encoders on CUDA: mixed precision (TRIDENT's fp16/bf16) and channels-last give the CPU's features.

Run where a CUDA device exists (``pytest -m gpu``); skipped elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.extract.encoders import build_encoder
from testkit.encoders import TINY_RESNET, TINY_VIT, save_tiny_foundation, save_tiny_resnet

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

PATCHES = np.random.default_rng(0).integers(0, 256, (8, 256, 256, 3), dtype=np.uint8)


@pytest.mark.parametrize("name, precision", [("uni_v1", "fp16"), ("uni_v2", "bf16"), ("conch_v1", "fp32")])
def test_named_encoder_precision_on_cuda(tmp_path, name, precision):
    save_tiny_foundation(name, tmp_path / "w.pth")
    cpu = build_encoder(name, weights=str(tmp_path / "w.pth"), device="cpu", model_options=TINY_VIT)
    gpu = build_encoder(name, weights=str(tmp_path / "w.pth"), device="cuda", model_options=TINY_VIT)
    assert gpu.precision == precision and cpu.precision == "fp32"
    a, b = cpu.encode(PATCHES), gpu.encode(PATCHES)
    assert b.dtype == np.float32
    tol = {"fp16": 2e-2, "bf16": 1e-1, "fp32": 1e-3}[precision]
    np.testing.assert_allclose(b, a, rtol=0, atol=tol * max(1.0, float(np.abs(a).max())))


def test_resnet_channels_last_on_cuda(tmp_path):
    save_tiny_resnet(tmp_path / "r.pth")
    cpu = build_encoder("timm:resnet18", weights=str(tmp_path / "r.pth"), device="cpu", model_options=TINY_RESNET)
    gpu = build_encoder("timm:resnet18", weights=str(tmp_path / "r.pth"), device="cuda", precision="fp32",
                        model_options=TINY_RESNET)
    assert gpu.channels_last
    np.testing.assert_allclose(gpu.encode(PATCHES), cpu.encode(PATCHES), rtol=1e-3, atol=1e-3)
