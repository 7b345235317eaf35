"""xMIL's ``AttentionMILModel`` (bifold-pathomics/xMIL ``models/attention_mil.py``, main branch commit
b6d216be4a7e76e46bb8fee0b89f24d36f0a4d24, head ``classifier``; branch ``xmil-journal`` commit
a24d159b904d17f2929caa3b31a94389ada12f7b names it ``linear_head``; defaults: one linear layer, no
output layers, biases, classification head) in eval mode. xMIL's TransMIL: :mod:`testkit.peers.transmil` with
``layers=("translayers.0.", "translayers.1.")``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int, h: int, a: int, c: int, seed: int = 0, head: str = "classifier") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"linear_layers.0.0.weight": randn(g, h, d), "linear_layers.0.0.bias": randn(g, h),
            "attention.0.weight": randn(g, a, h), "attention.0.bias": randn(g, a),
            "attention.2.weight": randn(g, 1, a), "attention.2.bias": randn(g, 1),
            f"{head}.weight": randn(g, c, h), f"{head}.bias": randn(g, c)}


def forward(s: dict[str, torch.Tensor], features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """features (N, D), one bag -> (logits (1, C), softmaxed attention (N, 1))."""
    f = F.relu(F.linear(features, s["linear_layers.0.0.weight"], s["linear_layers.0.0.bias"]))
    scores = F.linear(torch.tanh(F.linear(f, s["attention.0.weight"], s["attention.0.bias"])),
                      s["attention.2.weight"], s["attention.2.bias"])
    att = torch.softmax(scores, dim=0)
    bag = torch.mm(att.transpose(0, 1), f)
    head = "linear_head" if "linear_head.weight" in s else "classifier"
    return F.linear(bag, s[f"{head}.weight"], s[f"{head}.bias"]), att
