"""TransMIL (Shao et al., NeurIPS 2021): correlated MIL with a transformer and PPEG.

``e_i = ReLU(W norm(h_i))`` (N, H), gated by feature reweighting ``e_i ← π_i e_i`` **[decision: on
the embedded token, so a zero gate zeroes its content]**. Squaring: the N tokens are padded to
``⌈√N⌉²`` by repeating the first ones (as the paper's code), a class token is prepended; then
TransLayer (``x + MSA(LN(x))``) → PPEG → TransLayer → LayerNorm → head on the class token.

PPEG: the tokens laid out row-major on the ``⌈√N⌉ × ⌈√N⌉`` grid in **sequence order** (not the
patches' coordinates, as in the paper), ``x + DWConv7(x) + DWConv5(x) + DWConv3(x)``. Hence
TransMIL is **not permutation invariant**: reordering the patches changes the grid and the
output. Likewise a zero gate is not the same as removing a patch (the token stays on the grid).

Attention: ``"full"`` softmax attention (exact) or ``"nystrom"`` (the paper's; landmarks = H/2);
``"auto"`` (default) uses full attention up to ``full_max_tokens`` (4096) tokens and Nyström above,
so a 100k-patch bag runs in O(N·m) memory. See :mod:`core.models.self_attention`.

``attention`` (N,): attention rollout of the class token (Abnar & Zuidema 2020): per layer the
head-mean A, ``Â = (A + I)/2`` row-normalised, ``R = Â_2 Â_1``; the class token's row over the
patch tokens, padded copies folded back onto their originals, renormalised to sum to 1.
``extra`` keys: ``heads`` (8), ``attention`` ("auto"), ``landmarks`` (H/2), ``full_max_tokens`` (4096).
"""

from __future__ import annotations

import math
import typing

import torch
from torch import Tensor, nn

from core.models.base import HostConfig, HostOutput, MILHost
from core.models.host_options import TransMILAttention, TransMILOptions
from core.models.input_norm import InputNorm
from core.models.self_attention import AttentionMap, MultiHeadSelfAttention

__all__ = ["TransMIL", "PPEG"]

MODES = typing.get_args(TransMILAttention)


class PPEG(nn.Module):
    """Pyramid position encoding generator: depthwise convs 7/5/3 on the (H, side, side) token grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj7 = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.proj5 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.proj3 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: Tensor, side: int) -> Tensor:
        """x (1 + side², dim) with the class token first -> (1 + side², dim)."""
        cls, feat = x[:1], x[1:]  # (1, dim), (side², dim)
        grid = feat.T.reshape(1, -1, side, side)  # (1, dim, side, side)
        grid = grid + self.proj7(grid) + self.proj5(grid) + self.proj3(grid)  # (1, dim, side, side)
        return torch.cat([cls, grid.flatten(2)[0].T])  # (1 + side², dim)


class TransLayer(nn.Module):
    """``x + MSA(LayerNorm(x))``."""

    def __init__(self, dim: int, heads: int, landmarks: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, landmarks, dropout)

    def forward(self, x: Tensor, mode: str) -> tuple[Tensor, AttentionMap]:
        """x (T, dim) -> (T, dim), attention map."""
        o, amap = self.attn(self.norm(x), mode)  # (T, dim)
        return x + o, amap


class TransMIL(MILHost):
    """TransMIL host (feature-reweighting gate; not permutation invariant, see module docstring)."""

    name = "transmil"
    Options = TransMILOptions
    gate_mode = "feature_reweight"
    pools_by_attention = False
    uses_positional_encoding = True
    lrp_attention = ()  # self-attention is held constant through MultiHeadSelfAttention.constant_attention
    lrp_constant_inputs = ("cls_token",)
    #: LRP variant "xmil_code": modules xMIL's TransMIL code runs without bias (core.explain.lrp.VARIANTS)
    lrp_xmil_code_bias_free = ("layer1.attn.out", "layer2.attn.out", "ppeg")

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        h = config.hidden
        o = self.options
        self.mode, self.full_max_tokens = o.attention, o.full_max_tokens
        heads, landmarks = o.heads, max(1, h // 2) if o.landmarks is None else o.landmarks
        self.norm_in = InputNorm(config.in_dim)
        self.fc = nn.Sequential(nn.Linear(config.in_dim, h), nn.ReLU())
        self.cls_token = nn.Parameter(torch.randn(1, h) * 0.02)
        self.layer1 = TransLayer(h, heads, landmarks, config.dropout)
        self.ppeg = PPEG(h)
        self.layer2 = TransLayer(h, heads, landmarks, config.dropout)
        self.norm = nn.LayerNorm(h)
        self.classifier = nn.Linear(h, config.n_outputs)

    def _mode(self, tokens: int) -> str:
        if self.mode != "auto":
            return self.mode
        return "full" if tokens <= self.full_max_tokens else "nystrom"

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag: features (N, D), gate (N,) or None -> :class:`HostOutput`."""
        e = self.fc(self.norm_in(features))  # (N, H)
        if gate is not None:
            e = e * gate[:, None]  # (N, H)
        n = e.shape[0]
        side = math.ceil(math.sqrt(n))
        pad = side * side - n
        src = torch.cat([torch.arange(n, device=e.device), torch.arange(pad, device=e.device) % n])  # (side²,)
        x = torch.cat([self.cls_token, e[src]])  # (1 + side², H)
        mode = self._mode(x.shape[0])
        x, a1 = self.layer1(x, mode)  # (T, H)
        x = self.ppeg(x, side)  # (T, H)
        x, a2 = self.layer2(x, mode)  # (T, H)
        out = self.classifier(self.norm(x[0]))  # (C,)
        return HostOutput(output=out, attention=self._rollout(a1, a2, src, n))

    @staticmethod
    def _rollout(a1: AttentionMap, a2: AttentionMap, src: Tensor, n: int) -> Tensor:
        def step(v: Tensor, amap: AttentionMap) -> Tensor:  # v^T Â with Â = rownorm((A + I)/2)
            d = (amap.row_sums() + 1.0) / 2  # (T,)
            w = v / d  # (T,)
            return (amap.left_multiply(w) + w) / 2  # (T,)

        with torch.no_grad():
            t = src.shape[0] + 1
            r0 = a2.row(0)  # (T,)
            d0 = (a2.row_sums()[0] + 1.0) / 2
            e0 = torch.zeros(t, device=r0.device, dtype=r0.dtype)  # (T,)
            e0[0] = 1.0
            row = ((r0 + e0) / 2) / d0  # (T,) class-token row of Â_2
            r = step(row, a1)[1:]  # (side²,)
            att = torch.zeros(n, device=r.device, dtype=r.dtype).index_add_(0, src, r).clamp_min(0)  # (N,)
            return att / att.sum().clamp_min(1e-12)  # (N,)
