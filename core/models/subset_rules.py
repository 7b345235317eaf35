"""Evidence subsets of one bag under a model: GCE recovery, attention top-k, random-k (docs/method.md §4–5).

A *model* here is either a :class:`core.models.gce.GCEModel` or a bare :class:`MILHost`;
:func:`core.models.access.bag_output` hides the difference. Bags are dropped, never zero-filled (docs/method.md §2).

**[decision]** How the GCE model predicts a sub-bag, so that the S/N/R numbers mean what the paper
says: ``X_π`` is the full bag under the model's own soft gates; ``X_S`` is the discrete evidence, the
host on ``X_S`` with every gate 1 (paper's "discrete inference on cached features"); ``X_¬S`` is the
host on the remaining patches **with the gates they had in the full bag** (:func:`core.models.access.full_bag_gates`),
never the selector re-run on the complement: the selector normalises coordinates (and, with
``nu_mode="quantile"``, centres its logits) per *slide*, so a patch's gate must not change when
others are removed. This is the one definition of the complement everywhere, the same as
:class:`core.diagnostics.interventions.InterventionEngine`'s fixed full-bag gates.
For a bare host (or the "backbone" ablation) all three are the host on that sub-bag, and ``X_π`` is
the full bag.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from core.evidence.coverage import set_coverage
from core.evidence.recovery import Recovery, recover
from core.models.access import MILModel, host_of

__all__ = ["attention_order", "attention_topk", "gce_evidence", "random_k", "select", "topk_count"]

RANDOM_SEED = 42


def topk_count(n: int, budget: float) -> int:
    """k = ceil(budget · N), at least 1 and at most N."""
    return int(min(n, max(1, math.ceil(budget * n))))


@torch.no_grad()
def gce_evidence(model: MILModel, features: Tensor, coords: Tensor | None, *, max_size: int | None = None) -> tuple[Recovery, object]:
    """Recover the evidence subset of a GCE model on one bag (recovery on or off per its ablation).

    Returns
    -------
    (Recovery, GCEOutput)
        With the "recovery" switch off, the subset is the threshold set alone (``stop_reason``
        ``"threshold_only"``).
    """
    out = model(features, coords)
    gates = out.gates.cpu().double().numpy()  # (N,)
    responses = out.responses.cpu().double().numpy()  # (N, M)
    alpha = model.predicted_class_weights(out)  # (M,)
    cfg = model.config
    if cfg.uses_recovery:
        rec = recover(gates, responses, alpha, threshold=cfg.threshold, coverage_target=cfg.coverage_target, max_size=max_size)
    else:
        idx = np.flatnonzero(gates > cfg.threshold)
        if idx.size == 0:
            idx = np.array([int(np.argmax(gates))])

        rec = Recovery(idx.astype(np.int64), set_coverage(idx, responses), "threshold_only", int(idx.size))
    return rec, out


@torch.no_grad()
def attention_order(model: MILModel, features: Tensor, coords: Tensor | None) -> np.ndarray:
    """(N,) int64 patches by decreasing host attention (the host inside a GCE model, ungated; ties
    in patch order). ``order[:k]`` is :func:`attention_topk` for every k, from one forward."""
    host = host_of(model)
    att = host(features, coords).attention
    if att is None:
        raise ValueError(f"host {host.name!r} has no attention")
    return np.argsort(-att.cpu().double().numpy(), kind="stable").astype(np.int64)


def attention_topk(model: MILModel, features: Tensor, coords: Tensor | None, k: int) -> np.ndarray:
    """(k,) int64 patches with the highest host attention (the host inside a GCE model, ungated)."""
    return attention_order(model, features, coords)[:k]


def random_k(n: int, k: int, seed: int = RANDOM_SEED) -> np.ndarray:
    """(k,) int64 random patches (seeded)."""
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False)).astype(np.int64)


def select(rule: str, model: MILModel, features: Tensor, coords: Tensor | None, budget: float = 0.05) -> np.ndarray:
    """Evidence indices by ``rule``: ``"gce"``, ``"attention"`` (top-k) or ``"random"`` (k = ceil(budget N))."""
    n = features.shape[0]
    if rule == "gce":
        return gce_evidence(model, features, coords)[0].indices
    if rule == "attention":
        return attention_topk(model, features, coords, topk_count(n, budget))
    if rule == "random":
        return random_k(n, topk_count(n, budget))
    raise ValueError(f"unknown evidence rule {rule!r}")
