"""CLAM-MB (Lu et al., Nature Biomedical Engineering 2021), one attention branch per class.

A port of ``CLAM_MB`` in mahmoodlab/CLAM ``models/model_clam.py`` (docs/import_model.md), so that
a CLAM-MB checkpoint trained there runs here unchanged:

``e_i = Dropout(ReLU(W norm(h_i)))`` (N, H); gated attention with C branches ``z_ic`` (N, C) (+ gate
bias ``log(π_i + 1e-6)`` on every branch); ``A = softmax_i(z)`` (N, C); class c's bag embedding
``M_c = Σ_i A_ic e_i`` (C, H) and its logit ``Linear_c(M_c)`` (one 1-output classifier per class).

``attention`` / ``attention_logits``: the predicted class's branch (as DSMIL's), so the map shows the
evidence for the class the model chose. Not ``pools_by_attention`` (the pooling differs per class),
so interventions run the full forward. Permutation invariant. Training here has no instance
clustering loss (:meth:`auxiliary_loss` is ``None``): the host exists to run imported models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from core.models.attention import GatedAttention
from core.models.base import HostConfig, HostOutput, MILHost, gate_log_bias
from core.models.host_options import CLAMOptions
from core.models.input_norm import InputNorm

__all__ = ["CLAMMB"]


class CLAMMB(MILHost):
    """CLAM multi-branch host (attention-bias gate). Widths from :class:`HostConfig`: ``in_dim`` D,
    ``hidden`` H, ``attn_hidden``, ``n_outputs`` C (= attention branches)."""

    name = "clam_mb"
    Options = CLAMOptions
    gate_mode = "attention_bias"
    pools_by_attention = False
    lrp_attention = ("attention",)

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        c, h = config.n_outputs, config.hidden
        self.norm = InputNorm(config.in_dim)
        self.fc = nn.Sequential(nn.Linear(config.in_dim, h), nn.ReLU(), nn.Dropout(config.dropout))
        self.attention = GatedAttention(h, config.attn_hidden, config.dropout, branches=c)
        self.classifiers = nn.ModuleList([nn.Linear(h, 1) for _ in range(c)])
        self.instance_classifiers = nn.ModuleList([nn.Linear(h, 2) for _ in range(c)])

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag: features (N, D), gate (N,) or None -> :class:`HostOutput` (output (C,))."""
        e = self.fc(self.norm(features))  # (N, H)
        z = self.attention(e).reshape(e.shape[0], -1)  # (N, C)
        if gate is not None:
            z = z + gate_log_bias(gate)[:, None]  # (N, C)
        a = torch.softmax(z, dim=0)  # (N, C)
        m = a.T @ e  # (C, H)
        output = torch.cat([clf(m[c]) for c, clf in enumerate(self.classifiers)])  # (C,)
        k = int(output.argmax()) if output.numel() > 1 else 0
        inst = torch.stack([clf(e) for clf in self.instance_classifiers], dim=1)  # (N, C, 2)
        return HostOutput(output=output, attention=a[:, k], attention_logits=z[:, k],
                          instance_logits=inst[..., 1] - inst[..., 0])
