"""Attention MIL without gate (Ilse et al. 2018 "Attention"; xMIL's ``AttentionMILModel``).

``e_i = Dropout(ReLU(W norm(h_i) + b))`` (N, H); ``z_i = w^T tanh(V e_i)`` (+ gate bias
``log(π_i + 1e-6)``); ``a = softmax(z)``; ``ŷ = Linear(Σ a_i e_i)`` (C,). The same host as
:class:`core.models.abmil.ABMIL` with the ungated scorer, so it pools by attention with exact
:meth:`embed`/:meth:`head` (fast interventions). It is the host an xMIL attention-MIL checkpoint
imports onto (docs/import_model.md). Permutation invariant.
"""

from __future__ import annotations

from core.models.abmil import ABMIL
from core.models.attention import TanhAttention
from core.models.base import HostConfig

__all__ = ["AttentionMIL"]


class AttentionMIL(ABMIL):
    """Ungated attention-MIL host (attention-bias gate; ``pools_by_attention``)."""

    name = "attention_mil"

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        self.attention = TanhAttention(config.hidden, config.attn_hidden)
