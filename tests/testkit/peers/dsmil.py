"""DSMIL ``MILNet(FCLayer, BClassifier(nonlinear=True, passing_v=False))`` as binli123/dsmil-wsi
``dsmil.py`` computes it (commit 80465ed534ac49b5e550833da56c27936f0b9440)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int, c: int, q: int = 128, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"i_classifier.fc.0.weight": randn(g, c, d), "i_classifier.fc.0.bias": randn(g, c),
            "b_classifier.q.0.weight": randn(g, q, d), "b_classifier.q.0.bias": randn(g, q),
            "b_classifier.q.2.weight": randn(g, q, q), "b_classifier.q.2.bias": randn(g, q),
            "b_classifier.fcc.weight": randn(g, c, c, d), "b_classifier.fcc.bias": randn(g, c)}


def _q(s, t):
    t = F.relu(F.linear(t, s["b_classifier.q.0.weight"], s["b_classifier.q.0.bias"]))
    return torch.tanh(F.linear(t, s["b_classifier.q.2.weight"], s["b_classifier.q.2.bias"]))


def forward(s: dict[str, torch.Tensor], feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """feats (N, D) -> (instance scores (N, C), bag prediction (1, C), A (N, C))."""
    classes = F.linear(feats, s["i_classifier.fc.0.weight"], s["i_classifier.fc.0.bias"])
    v = feats  # passing_v=False: the identity
    q_all = _q(s, feats).view(feats.shape[0], -1)
    order = torch.sort(classes, 0, descending=True)[1]
    q_max = _q(s, feats.index_select(0, order[0, :]))
    a = F.softmax(torch.mm(q_all, q_max.t()) / math.sqrt(q_all.shape[1]), 0)
    b = torch.mm(a.t(), v).view(1, a.shape[1], -1)
    bag = F.conv1d(b, s["b_classifier.fcc.weight"], s["b_classifier.fcc.bias"]).view(1, -1)
    return classes, bag, a
