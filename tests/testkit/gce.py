"""A tiny attention host for GCE tests (until/besides the real hosts): gated ABMIL in a few lines."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from core.models.base import HostConfig, HostOutput, MILHost, gate_log_bias


class TinyABMIL(MILHost):
    name = "tiny_abmil"
    gate_mode = "attention_bias"
    pools_by_attention = True

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        self.embed_net = nn.Sequential(nn.Linear(config.in_dim, config.hidden), nn.ReLU())
        self.attn = nn.Linear(config.hidden, 1)
        self.cls = nn.Linear(config.hidden, config.n_outputs)

    def embed(self, features: Tensor) -> tuple[Tensor, Tensor]:
        e = self.embed_net(features)  # (N, H)
        return e, self.attn(e).squeeze(-1)  # (N, H), (N,)

    def head(self, bag_embedding: Tensor) -> Tensor:
        return self.cls(bag_embedding)

    def forward(self, features, coords=None, gate=None) -> HostOutput:
        e, z = self.embed(features)
        if gate is not None:
            z = z + gate_log_bias(gate)
        a = torch.softmax(z, dim=0)  # (N,)
        return HostOutput(self.head(a @ e), a, z, None, e)


def tiny_host(d: int = 16, c: int = 2, task: str = "classification") -> TinyABMIL:
    torch.manual_seed(0)
    return TinyABMIL(HostConfig(in_dim=d, n_outputs=c, task=task, hidden=8, attn_hidden=8, dropout=0.0))


def random_bag(n: int = 40, d: int = 16, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A seeded random bag: features (n, d) float32 and coords (n, 2) int64."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, 5000, (n, 2), generator=g)


def abmil_gce(**options):
    """Gated ABMIL (d = 16, 2 classes) wrapped in GCE around 5 random anchors, seeded, in eval mode."""
    import numpy as np

    from core.models.gce import GCEConfig, build_gce
    from core.models.registry import build_host

    torch.manual_seed(0)
    host = build_host("abmil", HostConfig(in_dim=16, n_outputs=2))
    anchors = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    return build_gce(host, anchors, GCEConfig(**options)).eval()
