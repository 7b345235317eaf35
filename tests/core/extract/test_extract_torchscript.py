"""TorchScript encoder: tiny scripted modules saved to tmp; normalisation, resize, shape checks, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.errors import EvidentError
from core.extract.encoders import build_encoder
from core.extract.encoders.torchscript import NORMALIZATIONS, TorchScriptEncoder


class ChannelStats(nn.Module):
    """(B, 3, S, S) -> (B, 7): channel means, channel stds, side S."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = torch.full((x.shape[0], 1), float(x.shape[-1]), dtype=x.dtype, device=x.device)
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), side], dim=1)


class TupleOut(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.mean(dim=(2, 3)), x


class Bad3D(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)).unsqueeze(-1)  # (B, 3, 1)


class NaNOut(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) / 0.0 * 0.0  # NaN


class Fixed8(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))  # fails unless S = 8


def _save(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():  # torch deprecates TorchScript; users still have such files
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(path))
    return path


def test_features_follow_normalisation_and_resize(tmp_path, rng):
    path = _save(ChannelStats(), tmp_path / "my model.pt")
    x = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    enc = TorchScriptEncoder(path, device="cpu", size=None)
    assert enc.dim == 7 and enc.name == "my_model"
    out = enc.encode(x)
    assert out.shape == (5, 7) and out.dtype == np.float32
    mean, std = (np.array(v) for v in NORMALIZATIONS["imagenet"])
    expected = (x.reshape(5, -1, 3).mean(1) / 255.0 - mean) / std
    np.testing.assert_allclose(out[:, :3], expected, atol=1e-5)
    assert (out[:, 6] == 32).all()
    raw = TorchScriptEncoder(path, device="cpu", size=None, normalization="none").encode(x)
    np.testing.assert_allclose(raw[:, :3], x.reshape(5, -1, 3).mean(1) / 255.0, atol=1e-5)
    small = TorchScriptEncoder(path, device="cpu", size=16).encode(x)
    assert (small[:, 6] == 16).all()
    np.testing.assert_allclose(small[:, :3], out[:, :3], atol=0.02)  # a resize keeps the means
    np.testing.assert_array_equal(enc.encode(x), out)
    assert enc.encode(x[:0]).shape == (0, 7)


def test_build_encoder_spec(tmp_path):
    path = _save(TupleOut(), tmp_path / "tuple.pt")
    enc = build_encoder(f"torchscript:{path}", device="cpu", size=8)
    assert isinstance(enc, TorchScriptEncoder) and enc.dim == 3  # first element of a tuple output
    for spec in ("torchscript:", "resnet50", ""):
        with pytest.raises(EvidentError):
            build_encoder(spec)
    with pytest.raises(EvidentError, match="normalization"):
        build_encoder(f"torchscript:{path}", normalization="zscore")


@pytest.mark.parametrize(
    ("module", "message"),
    [(Bad3D(), r"\(B, D\)"), (NaNOut(), "NaN"), (Fixed8(), "module failed")],
)
def test_bad_module_output_names_the_file(tmp_path, module, message):
    path = _save(module, tmp_path / "bad.pt")
    with pytest.raises(EvidentError, match=message) as err:
        TorchScriptEncoder(path, device="cpu", size=16)
    assert err.value.path == str(path)


def test_fixed_size_module_works_at_its_size(tmp_path, rng):
    path = _save(Fixed8(), tmp_path / "fixed.pt")
    enc = TorchScriptEncoder(path, device="cpu", size=8)
    assert enc.encode(rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)).shape == (2, 4)


def test_unreadable_files(tmp_path):
    with pytest.raises(EvidentError, match="not found"):
        TorchScriptEncoder(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(EvidentError, match="not a TorchScript module") as err:
        TorchScriptEncoder(junk)
    assert err.value.path == str(junk) and "\n" not in str(err.value)
    state = tmp_path / "state_dict.pt"
    torch.save(Fixed8().state_dict(), state)  # weights only: not TorchScript
    with pytest.raises(EvidentError, match="not a TorchScript module"):
        TorchScriptEncoder(state)
    assert junk.read_bytes() == b"not a model"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda(tmp_path, rng):
    path = _save(ChannelStats(), tmp_path / "m.pt")
    x = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    gpu = TorchScriptEncoder(path, device="cuda", size=None)
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.encode(x), TorchScriptEncoder(path, device="cpu", size=None).encode(x), atol=1e-4)
