"""Gated-attention MIL (ABMIL; Ilse, Tomczak & Welling, ICML 2018).

``e_i = Dropout(ReLU(W norm(h_i) + b))`` (``norm``: stored per-feature standardisation, identity
by default) (N, H); ``z_i = w^T(tanh(V e_i) ⊙ σ(U e_i))`` (+ gate bias
``log(π_i + 1e-6)``); ``a = softmax(z)``; ``ŷ = Linear(Σ a_i e_i)``. Permutation invariant.
"""

from __future__ import annotations

from torch import Tensor, nn

from core.models.attention import GatedAttention, attention_pool
from core.models.base import HostConfig, HostOutput, MILHost, gate_log_bias
from core.models.input_norm import InputNorm

__all__ = ["ABMIL"]


class ABMIL(MILHost):
    """Gated-attention MIL host; ``pools_by_attention`` with exact :meth:`embed`/:meth:`head`.

    Configured by :class:`HostConfig`: ``in_dim`` D, ``hidden`` H, ``attn_hidden``, ``dropout``,
    ``n_outputs`` C.
    """

    name = "abmil"
    gate_mode = "attention_bias"
    pools_by_attention = True
    lrp_attention = ("attention",)
    attention_dropout = False  # subclasses (CLAM-SB) also drop out inside the attention branches

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        self.norm = InputNorm(config.in_dim)
        self.fc = nn.Sequential(nn.Linear(config.in_dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout))
        self.attention = GatedAttention(config.hidden, config.attn_hidden,
                                        config.dropout if self.attention_dropout else 0.0)
        self.classifier = nn.Linear(config.hidden, config.n_outputs)

    def embed(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(N, D) -> embeddings (N, H) and gate-free attention logits (N,)."""
        e = self.fc(self.norm(features))  # (N, H)
        return e, self.attention(e)  # (N, H), (N,)

    def head(self, bag_embedding: Tensor) -> Tensor:
        """(..., H) -> (..., C)."""
        return self.classifier(bag_embedding)  # (..., C)

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag: features (N, D), gate (N,) or None -> :class:`HostOutput`."""
        e, z = self.embed(features)  # (N, H), (N,)
        if gate is not None:
            z = z + gate_log_bias(gate)  # (N,)
        bag, a = attention_pool(e, z)  # (H,), (N,)
        return HostOutput(output=self.head(bag), attention=a, attention_logits=z, embeddings=e)  # output (C,)
