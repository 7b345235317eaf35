"""CLAM-SB (Lu et al., Nature Biomedical Engineering 2021), single attention branch.

``e_i = Dropout(ReLU(W norm(h_i)))`` (N, H); gated attention logits ``z_i`` (+ gate bias
``log(π_i + 1e-6)``); ``a = softmax(z)``; bag logits ``Linear(Σ a_i e_i)`` (C,).

Instance-level clustering (training only, :meth:`CLAMSB.auxiliary_loss`): for the label's class
the ``k`` most-attended patches are pseudo-labelled positive and the ``k`` least-attended negative
for that class's binary instance classifier; with ``subtyping`` (default: C > 2, as CLAM's
subtyping tasks) the other classes' classifiers see the top-``k`` as negatives. ``k = min(B, N // 2)``
(at least 1), ``B = 8`` (CLAM's ``k_sample``). Instance loss: cross-entropy (CLAM's default) or
``"svm"``, the smooth top-1 SVM (Berrada et al. 2018, α = 1, τ = 1) CLAM offers.

CLAM weighs ``0.7 · bag + 0.3 · instance``; the trainer adds ``task + auxiliary``, so the auxiliary
loss returned is ``(1 − w) / w · instance`` with ``w = bag_weight`` — the same objective divided by
``w``. Permutation invariant (ties in top-k aside).

``extra`` keys: ``k_sample`` (8), ``bag_weight`` (0.7), ``inst_loss`` ("ce" | "svm"),
``subtyping`` (C > 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.abmil import ABMIL
from core.models.base import HostConfig, HostOutput
from core.models.host_options import CLAMOptions

__all__ = ["CLAMSB", "smooth_top1_svm"]


def smooth_top1_svm(logits: Tensor, target: Tensor, alpha: float = 1.0, tau: float = 1.0) -> Tensor:
    """Smooth top-1 SVM loss: logits (n, K), target (n,) int64 -> () mean of
    ``τ log Σ_j exp((α [j ≠ y] + s_j − s_y) / τ)``."""
    margin = alpha * (1.0 - F.one_hot(target, logits.shape[-1]).to(logits.dtype))  # (n, K)
    s_y = logits.gather(1, target[:, None])  # (n, 1)
    return (tau * torch.logsumexp((margin + logits - s_y) / tau, dim=1)).mean()


class CLAMSB(ABMIL):
    """CLAM single-branch host: gated ABMIL (dropout also inside the attention branches) plus
    per-class instance classifiers (attention bias gate, exact :meth:`embed`/:meth:`head`)."""

    name = "clam_sb"
    Options = CLAMOptions
    attention_dropout = True

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        c = config.n_outputs
        o = self.options
        self.k_sample, self.bag_weight, self.inst_loss = o.k_sample, o.bag_weight, o.inst_loss
        self.subtyping = c > 2 if o.subtyping is None else o.subtyping
        self.instance_classifiers = nn.ModuleList([nn.Linear(config.hidden, 2) for _ in range(c)])

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag: features (N, D), gate (N,) or None -> :class:`HostOutput`.

        ``instance_logits`` (N, C): per class c, the positive-minus-negative logit of instance
        classifier c.
        """
        out = super().forward(features, coords, gate)
        inst = torch.stack([clf(out.embeddings) for clf in self.instance_classifiers], dim=1)  # (N, C, 2)
        return out._replace(instance_logits=inst[..., 1] - inst[..., 0])  # (N, C)

    def _instance_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.inst_loss == "svm":
            return smooth_top1_svm(logits, target)
        return F.cross_entropy(logits, target)

    def auxiliary_loss(self, out: HostOutput, target: Tensor | None) -> Tensor | None:
        """Weighted instance-clustering loss (classification only; ``None`` otherwise)."""
        if target is None or self.config.task != "classification" or out.embeddings is None:
            return None
        y = int(torch.as_tensor(target).reshape(-1)[0])
        e, z = out.embeddings, out.attention_logits  # (N, H), (N,)
        n = e.shape[0]
        k = max(1, min(self.k_sample, n // 2))
        top = torch.topk(z, k).indices  # (k,)
        bottom = torch.topk(-z, k).indices  # (k,)
        losses = []
        for c, clf in enumerate(self.instance_classifiers):
            if c == y:
                idx = torch.cat([top, bottom])  # (2k,)
                lab = torch.cat([torch.ones(k), torch.zeros(k)]).long().to(e.device)  # (2k,)
            elif self.subtyping:
                idx, lab = top, torch.zeros(k, dtype=torch.long, device=e.device)  # (k,), (k,)
            else:
                continue
            losses.append(self._instance_loss(clf(e[idx]), lab))
        inst = torch.stack(losses).mean()  # ()
        return (1.0 - self.bag_weight) / self.bag_weight * inst
