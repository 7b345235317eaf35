"""Multi-head self-attention for TransMIL: exact softmax attention or the Nyström approximation.

Both return the layer output and an :class:`AttentionMap`, the head-mean attention matrix ``A``
(T, T) in a form that supports ``row(0)`` and ``v^T A`` without building ``A`` when it would not fit:

* ``"full"``: ``softmax(Q K^T / √d)``; the output through ``scaled_dot_product_attention``
  (memory-efficient kernels), the map computed in row chunks on demand, so memory stays O(T·chunk);
  time is O(T²).
* ``"nystrom"`` (Xiong et al. 2021, as TransMIL): m landmarks = means of m contiguous segments of the
  queries and keys; ``A ≈ softmax(Q K̃^T) pinv(softmax(Q̃ K̃^T)) softmax(Q̃ K^T)`` with the
  6-step iterative Moore–Penrose inverse. O(T·m) time and memory. **[decision]** landmarks are
  segment means of the actual tokens (no zero padding) and the depthwise residual convolution of
  the ``nystrom-attention`` package is left out.

LRP (AH-rule, docs/explanations.md): with ``constant_attention = True`` (set only inside
:func:`core.explain.lrp.lrp_mode`) the attention weights -- the softmax matrix, or the three
Nyström factors and the pseudo-inverse -- are computed by the real forward and detached, so the
output is linear in the values ``v``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MultiHeadSelfAttention", "AttentionMap", "iterative_pinv"]


def iterative_pinv(x: Tensor, iters: int = 6) -> Tensor:
    """Moore–Penrose pseudo-inverse by Newton–Schulz iterations: x (..., m, m) -> (..., m, m)."""
    absx = x.abs()
    z = x.transpose(-1, -2) / (absx.sum(-1).amax() * absx.sum(-2).amax())  # (..., m, m)
    eye = torch.eye(x.shape[-1], device=x.device, dtype=x.dtype)  # (m, m)
    for _ in range(iters):
        xz = x @ z  # (..., m, m)
        z = 0.25 * z @ (13 * eye - xz @ (15 * eye - xz @ (7 * eye - xz)))  # (..., m, m)
    return z


class AttentionMap:
    """Head-mean attention (T, T) of one layer, kept factorised.

    ``full``: from q (h, T, d), k (h, T, d). ``nystrom``: from the factors k1 (h, T, m),
    pinv (h, m, m), k3 (h, m, T).
    """

    def __init__(self, q: Tensor | None = None, k: Tensor | None = None, factors: tuple | None = None,
                 chunk: int = 1024) -> None:
        self.q, self.k, self.factors, self.chunk = q, k, factors, chunk

    def _rows(self, start: int, stop: int) -> Tensor:
        if self.factors is not None:
            k1, p, k3 = self.factors
            return (k1[:, start:stop] @ p @ k3).mean(0)  # (r, T)
        d = self.q.shape[-1]
        return torch.softmax(self.q[:, start:stop] @ self.k.transpose(-1, -2) / d**0.5, dim=-1).mean(0)  # (r, T)

    def row(self, i: int) -> Tensor:
        """Row i of A: (T,)."""
        return self._rows(i, i + 1)[0]

    def left_multiply(self, v: Tensor) -> Tensor:
        """``v^T A`` for v (T,) -> (T,)."""
        if self.factors is not None:
            k1, p, k3 = self.factors
            u = torch.einsum("t,htm->hm", v, k1)  # (h, m)
            u = torch.einsum("hm,hmn->hn", u, p)  # (h, m)
            return torch.einsum("hn,hnt->ht", u, k3).mean(0)  # (T,)
        out = torch.zeros_like(v)
        for s in range(0, v.shape[0], self.chunk):
            out = out + v[s:s + self.chunk] @ self._rows(s, s + self.chunk)  # (T,)
        return out

    def row_sums(self) -> Tensor:
        """A 1: (T,)."""
        if self.factors is not None:
            k1, p, k3 = self.factors
            return (k1 @ (p @ k3.sum(-1, keepdim=True))).squeeze(-1).mean(0)  # (T,)
        return torch.ones(self.q.shape[1], device=self.q.device, dtype=self.q.dtype)


class MultiHeadSelfAttention(nn.Module):
    """Self-attention over (T, dim) tokens with ``heads`` heads; ``mode`` "full" | "nystrom".

    ``constant_attention``: detach the attention weights (LRP's AH-rule; values unchanged).
    """

    constant_attention = False

    def __init__(self, dim: int, heads: int, landmarks: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"transmil: hidden ({dim}) must be divisible by heads ({heads})")
        self.heads, self.landmarks = heads, landmarks
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor, mode: str) -> tuple[Tensor, AttentionMap]:
        """x (T, dim) -> (output (T, dim), attention map)."""
        t, dim = x.shape
        q, k, v = self.qkv(x).reshape(t, 3, self.heads, dim // self.heads).permute(1, 2, 0, 3)  # 3 × (h, T, d)
        if mode == "nystrom" and t > self.landmarks:
            scale = (dim // self.heads) ** -0.5
            ql = torch.stack([s.mean(1) for s in torch.tensor_split(q, self.landmarks, dim=1)], dim=1)  # (h, m, d)
            kl = torch.stack([s.mean(1) for s in torch.tensor_split(k, self.landmarks, dim=1)], dim=1)  # (h, m, d)
            k1 = torch.softmax(q @ kl.transpose(-1, -2) * scale, dim=-1)  # (h, T, m)
            k2 = torch.softmax(ql @ kl.transpose(-1, -2) * scale, dim=-1)  # (h, m, m)
            k3 = torch.softmax(ql @ k.transpose(-1, -2) * scale, dim=-1)  # (h, m, T)
            p = iterative_pinv(k2)  # (h, m, m)
            if self.constant_attention:
                k1, p, k3 = k1.detach(), p.detach(), k3.detach()
            o = k1 @ (p @ (k3 @ v))  # (h, T, d)
            amap = AttentionMap(factors=(k1, p, k3))
        elif self.constant_attention:
            scale = (dim // self.heads) ** -0.5
            o = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1).detach() @ v  # (h, T, d)
            amap = AttentionMap(q=q.detach(), k=k.detach())
        else:
            o = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]  # (h, T, d)
            amap = AttentionMap(q=q, k=k)
        return self.out(o.transpose(0, 1).reshape(t, dim)), amap  # (T, dim)
