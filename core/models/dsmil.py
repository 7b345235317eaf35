"""DSMIL (Li, Li & Eliceiri, CVPR 2021): dual-stream MIL with a critical-instance query.

``e_i = Dropout(ReLU(W norm(h_i)))`` (N, H). Instance stream: ``s = Linear(π ⊙ e)`` (N, C); the
critical instance of class c is ``m_c = argmax_i s_ic``. Bag stream: ``q_i = Tanh(Linear(ReLU(Linear(e_i))))``,
``A_ic = softmax_i(⟨q_i, q_{m_c}⟩ / √d_q + log(π_i + 1e-6))`` (N, C); ``b_c = Σ_i A_ic v_i`` (C, H)
with ``v = e`` (DSMIL's default ``passing_v=False``); bag logits = ``Conv1d(C, C, kernel=H)(b)`` (C,)
as in the paper's code.

Output: the bag-stream logits. The paper's code optionally averages bag and max-instance
predictions at test time; ``extra["average"] = True`` returns ``(bag + max_i s_i) / 2`` (logits).
Training: the paper weighs bag and max-instance losses 0.5/0.5; here the trainer adds
``task(bag) + auxiliary``, auxiliary = cross-entropy of the max instance score (same objective ×2).

Gate (``"both"``): the bag-stream attention logits get ``log(π_i + 1e-6)`` and the instance stream
sees ``π_i e_i``. What holds for a zero gate on patch i: its bag attention vanishes (≤ 1e-6
relative) and the critical instances are unchanged unless i was one (or a zero embedding would score
above every other patch), in which case the output equals the bag without i up to that leakage;
when i is critical, the gated bag picks another critical instance, like removal, unless ties.
``attention`` is the column of the predicted class of ``A``. Permutation invariant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.base import HostConfig, HostOutput, MILHost, gate_log_bias
from core.models.host_options import DSMILOptions
from core.models.input_norm import InputNorm

__all__ = ["DSMIL"]


class DSMIL(MILHost):
    """Dual-stream MIL host. ``extra``: ``average`` (False), ``q_dim`` (attn_hidden), ``embed`` (True)."""

    name = "dsmil"
    Options = DSMILOptions
    gate_mode = "both"
    pools_by_attention = False
    lrp_attention = ("q",)  # the bag-stream query network: its attention is a constant for LRP

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        c, h = config.n_outputs, config.hidden
        o = self.options
        self.q_dim = config.attn_hidden if o.q_dim is None else o.q_dim
        self.average = o.average
        self.norm = InputNorm(config.in_dim)
        if o.embed:
            self.fc = nn.Sequential(nn.Linear(config.in_dim, h), nn.ReLU(), nn.Dropout(config.dropout))
        elif h != config.in_dim:
            raise ValueError(f"dsmil: without an embedding (embed=False) hidden must equal in_dim, got {h} and {config.in_dim}")
        else:
            self.fc = nn.Identity()
        self.instance_classifier = nn.Linear(h, c)
        self.q = nn.Sequential(nn.Linear(h, self.q_dim), nn.ReLU(), nn.Linear(self.q_dim, self.q_dim), nn.Tanh())
        self.bag_classifier = nn.Conv1d(c, c, kernel_size=h)

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag: features (N, D), gate (N,) or None -> :class:`HostOutput`."""
        e = self.fc(self.norm(features))  # (N, H)
        e_inst = e if gate is None else e * gate[:, None]  # (N, H)
        s = self.instance_classifier(e_inst)  # (N, C)
        crit = s.argmax(dim=0)  # (C,) critical instance per class
        q = self.q(e)  # (N, q)
        q_crit = q[crit]  # (C, q)
        logits = q @ q_crit.T / math.sqrt(self.q_dim)  # (N, C)
        if gate is not None:
            logits = logits + gate_log_bias(gate)[:, None]  # (N, C)
        attn = torch.softmax(logits, dim=0)  # (N, C)
        b = attn.T @ e  # (C, H)
        bag = self.bag_classifier(b.unsqueeze(0)).reshape(-1)  # (C,)
        s_max = s.max(dim=0).values  # (C,)
        output = (bag + s_max) / 2 if self.average else bag  # (C,)
        k = int(output.argmax()) if output.numel() > 1 else 0
        return HostOutput(output=output, attention=attn[:, k], attention_logits=logits[:, k], instance_logits=s,
                          embeddings=None)

    def auxiliary_loss(self, out: HostOutput, target: Tensor | None) -> Tensor | None:
        """Max-instance loss: cross-entropy of ``max_i s_i`` (C,) (classification), MSE (regression)."""
        if target is None or out.instance_logits is None or self.config.task == "survival":
            return None
        s_max = out.instance_logits.max(dim=0).values  # (C,)
        if self.config.task == "classification":
            return F.cross_entropy(s_max[None], torch.as_tensor(target, device=s_max.device).reshape(-1)[:1].long())
        return F.mse_loss(s_max.reshape(-1), torch.as_tensor(target, device=s_max.device, dtype=s_max.dtype).reshape(-1))
