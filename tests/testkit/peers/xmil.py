"""xMIL's ``AttentionMILModel`` (bifold-pathomics/xMIL ``models/attention_mil.py``, commit
2a5192a23d3d041aee93af47b1547160a86a4614; defaults: one linear layer, no output layers, biases,
classification head) in eval mode. xMIL's TransMIL: :mod:`testkit.peers.transmil` with
``layers=("translayers.0.", "translayers.1.")``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int, h: int, a: int, c: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"linear_layers.0.0.weight": randn(g, h, d), "linear_layers.0.0.bias": randn(g, h),
            "attention.0.weight": randn(g, a, h), "attention.0.bias": randn(g, a),
            "attention.2.weight": randn(g, 1, a), "attention.2.bias": randn(g, 1),
            "linear_head.weight": randn(g, c, h), "linear_head.bias": randn(g, c)}


def forward(s: dict[str, torch.Tensor], features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """features (N, D), one bag -> (logits (1, C), softmaxed attention (N, 1))."""
    f = F.relu(F.linear(features, s["linear_layers.0.0.weight"], s["linear_layers.0.0.bias"]))
    scores = F.linear(torch.tanh(F.linear(f, s["attention.0.weight"], s["attention.0.bias"])),
                      s["attention.2.weight"], s["attention.2.bias"])
    att = torch.softmax(scores, dim=0)
    bag = torch.mm(att.transpose(0, 1), f)
    return F.linear(bag, s["linear_head.weight"], s["linear_head.bias"]), att
