"""CLAM_SB / CLAM_MB (gated) as mahmoodlab/CLAM ``models/model_clam.py`` computes them in eval
mode (commit 0266041353ff716beea80d2ee8a4676adaf7ffb2; the model is unchanged at 08bc92977e7aefcae169854e0f46aeac2b81ce53): ``attention_net`` = Linear + ReLU + Dropout
+ ``Attn_Net_Gated``; ``A_raw`` (K, N) transposed logits, ``softmax`` over N, ``M = A h``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int, h: int, a: int, c: int, multi: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    k = c if multi else 1
    s = {"attention_net.0.weight": randn(g, h, d), "attention_net.0.bias": randn(g, h),
         "attention_net.3.attention_a.0.weight": randn(g, a, h), "attention_net.3.attention_a.0.bias": randn(g, a),
         "attention_net.3.attention_b.0.weight": randn(g, a, h), "attention_net.3.attention_b.0.bias": randn(g, a),
         "attention_net.3.attention_c.weight": randn(g, k, a), "attention_net.3.attention_c.bias": randn(g, k)}
    if multi:
        for i in range(c):
            s[f"classifiers.{i}.weight"], s[f"classifiers.{i}.bias"] = randn(g, 1, h), randn(g, 1)
    else:
        s["classifiers.weight"], s["classifiers.bias"] = randn(g, c, h), randn(g, c)
    for i in range(c):
        s[f"instance_classifiers.{i}.weight"], s[f"instance_classifiers.{i}.bias"] = randn(g, 2, h), randn(g, 2)
    return s


def forward(s: dict[str, torch.Tensor], x: torch.Tensor, multi: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, D) -> (logits (1, C), softmaxed attention (K, N); K = C for MB, 1 for SB)."""
    h = F.relu(F.linear(x, s["attention_net.0.weight"], s["attention_net.0.bias"]))
    p = "attention_net.3."
    gate_a = torch.tanh(F.linear(h, s[p + "attention_a.0.weight"], s[p + "attention_a.0.bias"]))
    gate_b = torch.sigmoid(F.linear(h, s[p + "attention_b.0.weight"], s[p + "attention_b.0.bias"]))
    a_raw = F.linear(gate_a.mul(gate_b), s[p + "attention_c.weight"], s[p + "attention_c.bias"]).transpose(1, 0)
    a = F.softmax(a_raw, dim=1)
    m = torch.mm(a, h)
    if not multi:
        return F.linear(m, s["classifiers.weight"], s["classifiers.bias"]), a
    n_classes = a.shape[0]
    logits = torch.empty(1, n_classes)
    for c in range(n_classes):
        logits[0, c] = F.linear(m[c], s[f"classifiers.{c}.weight"], s[f"classifiers.{c}.bias"])[0]
    return logits, a
