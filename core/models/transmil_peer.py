"""TransMIL as its published code runs it: the ``nystrom-attention`` package's attention.

Evident's own :class:`core.models.transmil.TransMIL` uses exact attention (or a Nyström variant
without padding) and no value convolution. A checkpoint trained with TransMIL's code
(szc19990412/TransMIL ``models/TransMIL.py``, which uses lucidrains' ``NystromAttention``) or with
xMIL's TransMIL (bifold-pathomics/xMIL ``models/transmil.py`` + ``models/attention.py``) needs the
attention those repositories compute, which this host ports (docs/import_model.md):

* ``"nystrom"``: the T tokens are zero-padded **at the front** to a multiple of m landmarks
  (m = ``landmarks``, H/2 by default; with T < m to m tokens); queries scaled by ``d^-1/2``;
  landmarks are the means of ``l = ⌈T/m⌉`` consecutive padded tokens; the output is
  ``softmax(Q K̃ᵀ) pinv₆(softmax(Q̃ K̃ᵀ)) softmax(Q̃ Kᵀ) V`` (6-step iterative pseudo-inverse);
* ``"dot_prod"`` (xMIL's option): ``softmax(Q Kᵀ / √d) V``, no padding;
* then ``+ DWConv_{33×1}(V)`` per head over the token axis (``residual_kernel``, 0 = none),
  the output projection, and the last T rows (the padding dropped).

Everything else (token squaring, class token, PPEG, two layers, LayerNorm, head, feature-reweight
gate, attention rollout) is :class:`TransMIL`'s, which already follows the paper's code. The
rollout's attention map is the Nyström product restricted to the real tokens (padded tokens have
zero values, so they carry nothing). Not permutation invariant (see :mod:`core.models.transmil`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.base import HostConfig, MILHost
from core.models.host_options import TransMILPeerOptions
from core.models.input_norm import InputNorm
from core.models.self_attention import AttentionMap, MultiHeadSelfAttention, iterative_pinv
from core.models.transmil import PPEG, TransLayer, TransMIL

__all__ = ["PeerNystromAttention", "TransMILPeer"]


class PeerNystromAttention(MultiHeadSelfAttention):
    """The published TransMIL/xMIL attention over (T, dim) tokens (see the module docstring).

    Parameters: ``dim``, ``heads``, ``landmarks`` m, ``dropout`` (after the output projection),
    ``method`` ("nystrom" | "dot_prod"), ``residual_kernel`` (odd; 0: no value convolution).
    ``constant_attention`` (LRP) detaches the attention factors, as in the parent class.
    """

    def __init__(self, dim: int, heads: int, landmarks: int, dropout: float, method: str,
                 residual_kernel: int) -> None:
        super().__init__(dim, heads, landmarks, dropout)
        self.method = method
        self.res_conv = (nn.Conv2d(heads, heads, (residual_kernel, 1), padding=(residual_kernel // 2, 0),
                                   groups=heads, bias=False) if residual_kernel else None)

    def forward(self, x: Tensor, mode: str = "") -> tuple[Tensor, AttentionMap]:
        """x (T, dim) -> (output (T, dim), head-mean attention map over the T real tokens)."""
        t, dim = x.shape
        h, m = self.heads, self.landmarks
        d = dim // h
        pad = (m - t % m) % m if self.method == "nystrom" else 0
        xp = F.pad(x, (0, 0, pad, 0))  # (Tp, dim), zero rows first
        tp = xp.shape[0]
        q, k, v = self.qkv(xp).reshape(tp, 3, h, d).permute(1, 2, 0, 3)  # 3 × (h, Tp, d)
        if self.method == "nystrom":
            qs = q * d ** -0.5  # (h, Tp, d)
            l = math.ceil(t / m)  # noqa: E741 - the peer's name for the tokens per landmark
            ql = qs.reshape(h, m, l, d).sum(2) / l  # (h, m, d)
            kl = k.reshape(h, m, l, d).sum(2) / l  # (h, m, d)
            k1 = torch.softmax(qs @ kl.transpose(-1, -2), dim=-1)  # (h, Tp, m)
            p = iterative_pinv(torch.softmax(ql @ kl.transpose(-1, -2), dim=-1))  # (h, m, m)
            k3 = torch.softmax(ql @ k.transpose(-1, -2), dim=-1)  # (h, m, Tp)
            if self.constant_attention:
                k1, p, k3 = k1.detach(), p.detach(), k3.detach()
            o = (k1 @ p) @ (k3 @ v)  # (h, Tp, d)
            amap = AttentionMap(factors=(k1[:, pad:], p, k3[:, :, pad:]))
        else:
            attn = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, dim=-1)  # (h, T, T)
            o = (attn.detach() if self.constant_attention else attn) @ v  # (h, T, d)
            amap = AttentionMap(q=q.detach() if self.constant_attention else q,
                                k=k.detach() if self.constant_attention else k)
        if self.res_conv is not None:
            o = o + self.res_conv(v[None])[0]  # (h, Tp, d)
        out = self.out(o.transpose(0, 1).reshape(tp, dim))  # (Tp, dim)
        return out[pad:], amap  # (T, dim)


class TransMILPeer(TransMIL):
    """TransMIL with the published code's attention (:class:`PeerNystromAttention`).

    Options (:class:`core.models.host_options.TransMILPeerOptions`): ``attention``
    ("nystrom" | "dot_prod"), ``heads`` (8), ``landmarks`` (H/2), ``residual_kernel`` (33).
    """

    name = "transmil_peer"
    Options = TransMILPeerOptions

    def __init__(self, config: HostConfig) -> None:
        MILHost.__init__(self, config)
        h = config.hidden
        o = self.options
        if h % o.heads:
            raise ValueError(f"transmil_peer: hidden ({h}) must be divisible by heads ({o.heads})")
        landmarks = max(1, h // 2) if o.landmarks is None else o.landmarks
        self.mode, self.full_max_tokens = o.attention, 0
        self.norm_in = InputNorm(config.in_dim)
        self.fc = nn.Sequential(nn.Linear(config.in_dim, h), nn.ReLU())
        self.cls_token = nn.Parameter(torch.randn(1, h) * 0.02)
        self.layer1 = TransLayer(h, o.heads, landmarks, config.dropout)
        self.ppeg = PPEG(h)
        self.layer2 = TransLayer(h, o.heads, landmarks, config.dropout)
        for layer in (self.layer1, self.layer2):
            layer.attn = PeerNystromAttention(h, o.heads, landmarks, config.dropout, o.attention, o.residual_kernel)
        self.norm = nn.LayerNorm(h)
        self.classifier = nn.Linear(h, config.n_outputs)
