"""Gated attention (Ilse et al. 2018), shared by ABMIL, CLAM-SB/MB and DTFD-MIL, and the ungated form.

``z_i = w^T (tanh(V e_i) ⊙ σ(U e_i))`` for per-patch embeddings ``e_i``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GatedAttention", "TanhAttention", "attention_pool"]


class GatedAttention(nn.Module):
    """Gated attention scorer: (N, H) embeddings -> (N,) attention logits.

    Parameters
    ----------
    hidden
        H, the embedding width.
    attn_hidden
        Width of the tanh and sigmoid branches (V and U are ``attn_hidden × H``).
    dropout
        Dropout on both branches (CLAM applies it there; 0 disables).
    branches
        K attention branches (CLAM-MB: one per class); 1 gives (N,) logits, K > 1 gives (N, K).
    """

    def __init__(self, hidden: int, attn_hidden: int, dropout: float = 0.0, branches: int = 1) -> None:
        super().__init__()
        self.branches = branches
        self.v = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Tanh(), nn.Dropout(dropout))
        self.u = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Sigmoid(), nn.Dropout(dropout))
        self.w = nn.Linear(attn_hidden, branches)

    def forward(self, e: Tensor) -> Tensor:
        """(N, H) float -> (N,) float attention logits ((N, K) with K > 1 branches)."""
        z = self.w(self.v(e) * self.u(e))  # (N, K)
        return z.squeeze(-1) if self.branches == 1 else z  # (N,) | (N, K)


class TanhAttention(nn.Module):
    """Attention without gate (Ilse et al. 2018, "Attention"; xMIL's AttentionMILModel):
    ``z_i = w^T tanh(V e_i)``, (N, H) -> (N,) logits (V is ``attn_hidden × H``)."""

    def __init__(self, hidden: int, attn_hidden: int) -> None:
        super().__init__()
        self.v = nn.Sequential(nn.Linear(hidden, attn_hidden), nn.Tanh())
        self.w = nn.Linear(attn_hidden, 1)

    def forward(self, e: Tensor) -> Tensor:
        """(N, H) float -> (N,) float attention logits."""
        return self.w(self.v(e)).squeeze(-1)  # (N,)


def attention_pool(e: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax the logits and pool: e (N, H), z (N,) -> (bag embedding (H,), attention (N,))."""
    a = torch.softmax(z, dim=0)  # (N,)
    return a @ e, a  # (H,), (N,)
