"""core.device.pick_device: the default order and one clear error for devices this machine lacks."""

from __future__ import annotations

import pytest
import torch

from core.device import pick_device
from core.errors import EvidentError


def test_auto_picks_cuda_first_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device(None).type == "cpu"
    assert pick_device("cpu").type == "cpu"


@pytest.mark.parametrize("count", [1, 2])
def test_cuda_ordinal_beyond_the_devices_is_one_clear_error(monkeypatch, count):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    assert pick_device(f"cuda:{count - 1}").index == count - 1
    with pytest.raises(EvidentError, match=f"cuda:{count}.*has {count} CUDA device") as err:
        pick_device(f"cuda:{count}")
    assert "\n" not in str(err.value)


def test_unknown_or_missing_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EvidentError, match="unknown device 'gpu0'"):
        pick_device("gpu0")
    with pytest.raises(EvidentError, match="CUDA is not available"):
        pick_device("cuda")


def test_float64_work_never_gets_mps_by_default(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto").type == "mps"
    assert pick_device("auto", float64=True).type == "cpu"
