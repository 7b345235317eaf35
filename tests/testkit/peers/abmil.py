"""Gated ABMIL as AMLab-Amsterdam/AttentionDeepMIL ``model.py`` class ``GatedAttention`` computes it
(commit eb0434ba2795711a45d693d60120ae53532b1b93), from the flattened conv features on (the conv
part ``feature_extractor_part1`` is the image encoder; its keys are in the state dict all the same)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int = 800, m: int = 500, l: int = 128, seed: int = 0) -> dict[str, torch.Tensor]:  # noqa: E741
    g = torch.Generator().manual_seed(seed)
    return {"feature_extractor_part1.0.weight": randn(g, 20, 1, 5, 5), "feature_extractor_part1.0.bias": randn(g, 20),
            "feature_extractor_part1.3.weight": randn(g, 50, 20, 5, 5), "feature_extractor_part1.3.bias": randn(g, 50),
            "feature_extractor_part2.0.weight": randn(g, m, d), "feature_extractor_part2.0.bias": randn(g, m),
            "attention_V.0.weight": randn(g, l, m), "attention_V.0.bias": randn(g, l),
            "attention_U.0.weight": randn(g, l, m), "attention_U.0.bias": randn(g, l),
            "attention_w.weight": randn(g, 1, l), "attention_w.bias": randn(g, 1),
            "classifier.0.weight": randn(g, 1, m), "classifier.0.bias": randn(g, 1)}


def forward(s: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (K, 800) -> (Y_prob (1, 1), A (1, K))."""
    h = F.relu(F.linear(x, s["feature_extractor_part2.0.weight"], s["feature_extractor_part2.0.bias"]))
    a_v = torch.tanh(F.linear(h, s["attention_V.0.weight"], s["attention_V.0.bias"]))
    a_u = torch.sigmoid(F.linear(h, s["attention_U.0.weight"], s["attention_U.0.bias"]))
    a = F.softmax(F.linear(a_v * a_u, s["attention_w.weight"], s["attention_w.bias"]).t(), dim=1)
    z = a.mm(h)
    return torch.sigmoid(F.linear(z, s["classifier.0.weight"], s["classifier.0.bias"])), a
