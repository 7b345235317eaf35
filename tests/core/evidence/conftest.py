"""Fixtures of the evidence tests: a GCE checkpoint, a bare-host checkpoint and two feature bags."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.models.base import HostConfig
from core.models.checkpoint import save_checkpoint
from core.models.gce import GCEConfig, build_gce
from core.models.registry import build_host

D = 10  # feature width of the fixture bags and models


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    host = build_host("abmil", HostConfig(in_dim=D, n_outputs=2, hidden=16, attn_hidden=8, dropout=0.0))
    anchors = np.random.default_rng(0).standard_normal((3, D))
    model = build_gce(host, anchors, GCEConfig(), "digest123", ("a", "b", "c"))
    ckpt = tmp_path / "gce.pt"
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": ["neg", "pos"]})
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, host, {"host": "abmil", "host_config": host.config.to_dict(), "task": "classification"})
    rng = np.random.default_rng(1)
    bags = []
    for i, n in enumerate((40, 25)):
        p = tmp_path / f"slide{i}.h5"
        write_bag(p, FeatureBag(rng.standard_normal((n, D)).astype(np.float32), rng.integers(0, 9999, (n, 2)), 256, f"slide{i}"))
        bags.append(p)
    return tmp_path, ckpt, plain, bags
