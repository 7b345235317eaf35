"""DTFD-MIL (Zhang et al., CVPR 2022): double-tier feature distillation.

``e_i = Dropout(ReLU(W norm(h_i)))`` (N, H), gated by feature reweighting ``e_i ← π_i e_i``
**[decision: the gate scales the embedded token, so a zero gate zeroes its content; reweighting the
raw features would leave the layer's bias]**. The bag is split into G pseudo-bags (``n_groups``,
default 5, at most N). Tier 1 (gated-attention MIL per pseudo-bag g): ``a^g = softmax(z^g)``,
tier-1 logits ``Linear(Σ a_i e_i)``; distillation (``distill``):

* ``"maxmins"`` (paper default): per pseudo-bag, the weighted instance features ``a_i e_i`` of the
  ``k`` instances with the highest and the ``k`` with the lowest instance probability of the last
  class (Grad-CAM of the tier-1 classifier, as in the paper's code), ``k = instances_per_group`` (1);
* ``"maxs"``: the highest only; ``"afs"``: the pseudo-bag embedding ``Σ a_i e_i``.

Tier 2: gated-attention MIL over the distilled features -> bag logits (C,).

Pseudo-bag split **[decision]**: in training a random permutation (torch's global generator, which
the trainer seeds per fold) cut into G chunks, as the paper; in eval a deterministic split that
does not depend on the patches' order: patches ranked by a fixed random projection of their
features (seed 0) and dealt round-robin into the G groups. So the eval output is permutation
invariant (ties aside); training outputs are random by design.

``attention``: tier-1 attention over the whole bag, divided by G (sums to 1). Auxiliary loss:
mean tier-1 cross-entropy over the pseudo-bags (the paper adds tier-1 and tier-2 losses).
``extra`` keys: ``n_groups`` (5), ``distill`` ("maxmins"), ``instances_per_group`` (1).
"""

from __future__ import annotations

import typing

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.attention import GatedAttention, attention_pool
from core.models.base import HostConfig, HostOutput, MILHost
from core.models.host_options import DistillRule, DTFDOptions
from core.models.input_norm import InputNorm

__all__ = ["DTFDMIL", "DISTILL"]

DISTILL = typing.get_args(DistillRule)


class DTFDMIL(MILHost):
    """Double-tier feature-distillation host (feature-reweighting gate)."""

    name = "dtfd"
    Options = DTFDOptions
    gate_mode = "feature_reweight"
    pools_by_attention = False
    lrp_attention = ("attention1", "attention2")  # both tiers' attention are constants for LRP
    #: distil the attention-weighted features ``a_i e_i`` (False: the embeddings ``e_i``, as DTFD's code)
    distill_weighted = True
    #: include the tier-1 classifier's bias in the per-instance CAM logits (False: weights only, as DTFD's code)
    cam_bias = True

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        c, h = config.n_outputs, config.hidden
        o = self.options
        self.n_groups, self.distill, self.k = o.n_groups, o.distill, o.instances_per_group
        self.norm = InputNorm(config.in_dim)
        self.fc = nn.Sequential(nn.Linear(config.in_dim, h), nn.ReLU(), nn.Dropout(config.dropout))
        self.attention1 = GatedAttention(h, config.attn_hidden)
        self.classifier1 = nn.Linear(h, c)
        self.attention2 = GatedAttention(h, config.attn_hidden)
        self.classifier2 = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(h, c))
        g = torch.Generator().manual_seed(0)
        self.register_buffer("projection", torch.randn(config.in_dim, generator=g), persistent=False)  # (D,)

    def _groups(self, features: Tensor) -> list[Tensor]:
        n = features.shape[0]
        g = min(self.n_groups, n)
        if self.training:
            order = torch.randperm(n, device=features.device)  # (N,)
            return list(torch.tensor_split(order, g))
        score = features @ self.projection.to(features.dtype)  # (N,)
        order = torch.argsort(score, stable=True)  # (N,)
        return [order[i::g] for i in range(g)]

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag: features (N, D), gate (N,) or None -> :class:`HostOutput`."""
        e = self.fc(self.norm(features))  # (N, H)
        if gate is not None:
            e = e * gate[:, None]  # (N, H)
        groups = self._groups(features)
        attention = e.new_zeros(e.shape[0])  # (N,)
        tier1, distilled = [], []
        for idx in groups:
            eg = e[idx]  # (n_g, H)
            bag_g, a_g = attention_pool(eg, self.attention1(eg))  # (H,), (n_g,)
            tier1.append(self.classifier1(bag_g))  # (C,)
            attention = attention.index_put((idx,), a_g / len(groups))  # (N,)
            if self.distill == "afs":
                distilled.append(bag_g[None])  # (1, H)
                continue
            weighted = eg * a_g[:, None]  # (n_g, H)
            cam = self.classifier1(weighted) if self.cam_bias else weighted @ self.classifier1.weight.T  # (n_g, C)
            p_last = torch.softmax(cam, dim=1)[:, -1]  # (n_g,)
            k = min(self.k, eg.shape[0])
            top = torch.topk(p_last, k).indices  # (k,)
            pick = top if self.distill == "maxs" else torch.cat([top, torch.topk(-p_last, k).indices])  # (k,) | (2k,)
            distilled.append((weighted if self.distill_weighted else eg)[pick])
        d = torch.cat(distilled)  # (G', H)
        bag, _ = attention_pool(d, self.attention2(d))  # (H,)
        output = self.classifier2(bag)  # (C,)
        self._tier1 = torch.stack(tier1)  # (G', C) kept for auxiliary_loss (called right after forward)
        return HostOutput(output=output, attention=attention)

    def auxiliary_loss(self, out: HostOutput, target: Tensor | None) -> Tensor | None:
        """Mean tier-1 loss over the pseudo-bags of the last forward (classification: CE; regression: MSE)."""
        tier1 = getattr(self, "_tier1", None)
        if target is None or tier1 is None or self.config.task == "survival":
            return None
        if self.config.task == "classification":
            y = torch.as_tensor(target, device=tier1.device).reshape(-1)[:1].long().expand(tier1.shape[0])  # (G',)
            return F.cross_entropy(tier1, y)
        y = torch.as_tensor(target, device=tier1.device, dtype=tier1.dtype).reshape(1, -1).expand_as(tier1)  # (G', 1)
        return F.mse_loss(tier1, y)
