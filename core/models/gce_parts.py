"""Building blocks of the GCE wrapper (docs/method.md §3.2–3.6): adapter, bridge, anchor responses,
selector, per-slide coordinate normalisation and the log-space noisy-OR coverage, in torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CLAMP",
    "LowRankAdapter",
    "Selector",
    "anchor_responses",
    "make_bridge",
    "noisy_or_coverage",
    "normalise_coords",
]

CLAMP = 1.0 - 1e-6


class LowRankAdapter(nn.Module):
    """``e_i = LayerNorm((I + U Vᵀ) h_i)`` with ``U, V ∈ R^{d×r}``, ``V = 0``, ``U ~ N(0, 1e-3²)``.

    Parameters
    ----------
    dim
        d, the feature width. rank: r (paper: 32).
    """

    def __init__(self, dim: int, rank: int = 32) -> None:
        super().__init__()
        self.u = nn.Parameter(torch.randn(dim, rank) * 1e-3)  # (d, r)
        self.v = nn.Parameter(torch.zeros(dim, rank))  # (d, r)
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: Tensor) -> Tensor:
        """(N, d) -> (N, d)."""
        return self.norm(h + (h @ self.v) @ self.u.T)  # (N, d)


def make_bridge(dim: int, anchor_dim: int, constrained: bool = True) -> nn.Module:
    """``B``: Linear(d → d_a), identity-initialised when d_a = d; spectral-normalised when constrained.

    Returns
    -------
    nn.Module
        Maps (N, d) -> (N, d_a).
    """
    lin = nn.Linear(dim, anchor_dim)
    if anchor_dim == dim:
        with torch.no_grad():
            lin.weight.copy_(torch.eye(dim))
            lin.bias.zero_()
    if constrained:
        lin = nn.utils.parametrizations.spectral_norm(lin)
    return lin


def anchor_responses(mapped: Tensor, anchors: Tensor, gamma: float, delta: float) -> Tensor:
    """``r_im = σ(γ (cos(B(h_i), a_m) − δ))`` (docs/method.md eq. 2).

    Parameters
    ----------
    mapped
        (N, d_a) bridged features ``B(h)``.
    anchors
        (M, d_a) anchor embeddings.

    Returns
    -------
    Tensor
        (N, M) responses in (0, 1).
    """
    cos = F.normalize(mapped, dim=-1) @ F.normalize(anchors, dim=-1).T  # (N, M)
    return torch.sigmoid(gamma * (cos - delta))  # (N, M)


class Selector(nn.Module):
    """``s_i = MLP([e_i ; ĉ_i])``: Linear(d+2 → hidden) → GELU → Linear(hidden → 1)."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 2, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, e: Tensor, coords01: Tensor) -> Tensor:
        """(N, d) adapted features and (N, 2) coords in [0, 1] -> (N,) selector logits."""
        return self.net(torch.cat([e, coords01], dim=-1)).squeeze(-1)  # (N,)


def normalise_coords(coords: Tensor | None, n: int, like: Tensor) -> Tensor:
    """Per-slide min–max normalisation of (N, 2) coordinates to [0, 1].

    An axis with a single value (or ``coords=None``) maps to 0. Returns (N, 2) with ``like``'s dtype.
    """
    if coords is None:
        return torch.zeros(n, 2, dtype=like.dtype, device=like.device)
    c = coords.to(dtype=like.dtype, device=like.device)  # (N, 2)
    lo = c.min(dim=0).values  # (2,)
    span = c.max(dim=0).values - lo  # (2,)
    span = torch.where(span > 0, span, torch.ones_like(span))
    return (c - lo) / span  # (N, 2)


def noisy_or_coverage(gates: Tensor, responses: Tensor) -> Tensor:
    """``v_m = 1 − Π_i (1 − π_i r_im)`` in log space with ``π r`` clamped to ≤ 1 − 1e-6.

    Parameters
    ----------
    gates
        (N,) gates in [0, 1].
    responses
        (N, M) responses in [0, 1].

    Returns
    -------
    Tensor
        (M,) coverage in [0, 1].
    """
    x = (gates[:, None] * responses).clamp(max=CLAMP)  # (N, M)
    return -torch.expm1(torch.log1p(-x).sum(dim=0))  # (M,)
