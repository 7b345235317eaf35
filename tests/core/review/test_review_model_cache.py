"""core.review.model_cache: one load per checkpoint file version."""

from __future__ import annotations

import os

import pytest
import torch

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.checkpoint import save_checkpoint
from core.models.registry import build_host
from core.review import model_cache


def _save(path, seed):
    torch.manual_seed(seed)
    cfg = HostConfig(in_dim=6, n_outputs=2, hidden=8, attn_hidden=4)
    save_checkpoint(path, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict()})


def test_loaded_once_per_file_version(tmp_path):
    model_cache.clear()
    ckpt = tmp_path / "m.pt"
    _save(ckpt, 0)
    a, cfg = model_cache.load_checkpoint_cached(ckpt)
    b, _ = model_cache.load_checkpoint_cached(str(ckpt))
    assert a is b and cfg["host"] == "abmil"
    _save(ckpt, 1)  # rewritten: a new version is loaded
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    c, _ = model_cache.load_checkpoint_cached(ckpt)
    assert c is not a
    assert not torch.equal(c.classifier.weight, a.classifier.weight)


def test_missing_file_is_the_checkpoint_error(tmp_path):
    with pytest.raises(EvidentError, match="missing.pt"):
        model_cache.load_checkpoint_cached(tmp_path / "missing.pt")
