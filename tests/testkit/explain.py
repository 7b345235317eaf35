"""Small models shared by the explain and diagnostics tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from core.models.base import HostConfig, HostOutput, MILHost


class TinyMixer(MILHost):
    """A host with cross-patch interaction: each patch sees the bag mean, then attention pooling.

    No ``embed``/``head`` fast path (``pools_by_attention = False``); gates reweight features.
    """

    name = "tiny_mixer"
    gate_mode = "feature_reweight"

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        self.inp = nn.Linear(config.in_dim, config.hidden)
        self.mix = nn.Linear(2 * config.hidden, config.hidden)
        self.attn = nn.Linear(config.hidden, 1)
        self.cls = nn.Linear(config.hidden, config.n_outputs)

    def forward(self, features: Tensor, coords=None, gate=None) -> HostOutput:
        x = features if gate is None else features * gate[:, None]
        h = torch.relu(self.inp(x))  # (N, H)
        m = h.mean(0, keepdim=True).expand_as(h)  # (N, H)
        h = torch.relu(self.mix(torch.cat([h, m], 1)))  # (N, H)
        a = torch.softmax(self.attn(h).squeeze(-1), 0)  # (N,)
        return HostOutput(self.cls(a @ h), attention=a)


def abmil(d: int = 6, c: int = 3, hidden: int = 8, seed: int = 0, task: str = "classification"):
    from core.models.registry import build_host

    torch.manual_seed(seed)
    m = build_host("abmil", HostConfig(in_dim=d, n_outputs=c, hidden=hidden, attn_hidden=5, dropout=0.0, task=task))
    return m.eval()


def mixer(d: int = 6, c: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return TinyMixer(HostConfig(in_dim=d, n_outputs=c, hidden=8, dropout=0.0)).eval()


def gce(host, m: int = 4, seed: int = 0):
    from core.models.gce import GCEConfig, build_gce

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = build_gce(host, rng.standard_normal((m, host.config.in_dim)).astype(np.float32), GCEConfig(rank=2, selector_hidden=8))
    with torch.no_grad():  # a selector whose gates spread over (0, 1)
        for p in model.selector.parameters():
            p.mul_(3.0)
    return model.eval()


def bag(n: int = 12, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    coords = np.stack([rng.integers(0, 5000, n), rng.integers(0, 5000, n)], 1).astype(np.int64)
    return x, coords
