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
