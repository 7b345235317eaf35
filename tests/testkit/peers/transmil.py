"""TransMIL as szc19990412/TransMIL ``models/TransMIL.py`` (commit 0db153547b3acbb89459c8cf47fd0fc064f5dfd1)
computes it with lucidrains/nystrom-attention ``nystrom_attention/nystrom_attention.py`` (commit
08a7754a76fd74fde6545b7ebfd6fb4658dd55cb; 8 heads of dim/8, dim/2 landmarks, 6 pinv iterations,
residual value conv 33), and xMIL's TransMIL (bifold-pathomics/xMIL ``models/transmil.py`` and
``models/attention.py``, main branch commit b6d216be4a7e76e46bb8fee0b89f24d36f0a4d24: the same computation with
layers under ``translayers.i`` and a ``"dot_prod"`` attention option). Batched ``[1, n, D]``
tensors as in the peers' code.

Besides the logits, :func:`forward` returns each layer's dense head-mean attention matrix over the
real tokens (``attn1 @ pinv(attn2) @ attn3``, which xMIL saves as ``attn_scores``), and
:func:`class_token_rollout` applies docs/explanations.md's rollout to them densely.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int, h: int, c: int, layers: tuple[str, str] = ("layer1.", "layer2."), residual: bool = True,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = {"cls_token": randn(g, 1, 1, h, scale=1.0), "_fc1.0.weight": randn(g, h, d), "_fc1.0.bias": randn(g, h),
         "pos_layer.proj.weight": randn(g, h, 1, 7, 7), "pos_layer.proj.bias": randn(g, h),
         "pos_layer.proj1.weight": randn(g, h, 1, 5, 5), "pos_layer.proj1.bias": randn(g, h),
         "pos_layer.proj2.weight": randn(g, h, 1, 3, 3), "pos_layer.proj2.bias": randn(g, h),
         "norm.weight": 1 + randn(g, h), "norm.bias": randn(g, h), "_fc2.weight": randn(g, c, h), "_fc2.bias": randn(g, c)}
    for p in layers:
        s |= {f"{p}norm.weight": 1 + randn(g, h), f"{p}norm.bias": randn(g, h),
              f"{p}attn.to_qkv.weight": randn(g, 3 * h, h), f"{p}attn.to_out.0.weight": randn(g, h, h),
              f"{p}attn.to_out.0.bias": randn(g, h)}
        if residual:
            s[f"{p}attn.res_conv.weight"] = randn(g, 8, 1, 33, 1)
    return s


def _pinv(x, iters=6):
    absx = torch.abs(x)
    z = x.transpose(-1, -2) / (torch.max(absx.sum(dim=-1)) * torch.max(absx.sum(dim=-2)))
    eye = torch.eye(x.shape[-1])[None]
    for _ in range(iters):
        xz = x @ z
        z = 0.25 * z @ (13 * eye - (xz @ (15 * eye - (xz @ (7 * eye - xz)))))
    return z


def _attention(s, p, x, method):
    """One attention module on x [1, n, dim] -> (out [1, n, dim], head-mean attention (n, n))."""
    b, n, dim = x.shape
    heads, m = 8, dim // 2
    pad = 0
    if method == "nystrom" and n % m:
        pad = m - n % m
        x = F.pad(x, (0, 0, pad, 0), value=0)
    q, k, v = F.linear(x, s[p + "attn.to_qkv.weight"]).chunk(3, dim=-1)
    q, k, v = (t.reshape(b, -1, heads, dim // heads).transpose(1, 2) for t in (q, k, v))  # [b, h, n', d]
    q = q * (dim // heads) ** -0.5
    if method == "nystrom":
        seg = math.ceil(n / m)
        q_l = torch.stack([q[:, :, i * seg:(i + 1) * seg].sum(2) for i in range(m)], dim=2) / seg
        k_l = torch.stack([k[:, :, i * seg:(i + 1) * seg].sum(2) for i in range(m)], dim=2) / seg
        attn1 = (q @ k_l.transpose(-1, -2)).softmax(dim=-1)
        attn2 = (q_l @ k_l.transpose(-1, -2)).softmax(dim=-1)
        attn3 = (q_l @ k.transpose(-1, -2)).softmax(dim=-1)
        attn2_inv = _pinv(attn2)
        out = (attn1 @ attn2_inv) @ (attn3 @ v)
        dense = attn1 @ attn2_inv @ attn3
    else:
        dense = (q @ k.transpose(-1, -2)).softmax(dim=-1)
        out = dense @ v
    if p + "attn.res_conv.weight" in s:
        out = out + F.conv2d(v, s[p + "attn.res_conv.weight"], padding=(16, 0), groups=heads)
    out = out.transpose(1, 2).reshape(b, -1, dim)
    out = F.linear(out, s[p + "attn.to_out.0.weight"], s[p + "attn.to_out.0.bias"])[:, -n:]
    return out, dense[0, :, pad:, pad:].mean(0)


def forward(s: dict[str, torch.Tensor], data: torch.Tensor, layers: tuple[str, str] = ("layer1.", "layer2."),
            method: str = "nystrom") -> tuple[torch.Tensor, list[torch.Tensor], int]:
    """data (n, D) -> (logits (1, C), per-layer head-mean attention (T, T), n)."""
    h = F.relu(F.linear(data[None].float(), s["_fc1.0.weight"], s["_fc1.0.bias"]))
    n = h.shape[1]
    side = int(math.ceil(math.sqrt(n)))
    h = torch.cat([h, h[:, :side * side - n, :]], dim=1)
    h = torch.cat((s["cls_token"].expand(1, -1, -1), h), dim=1)
    maps = []
    dim = h.shape[-1]
    for i, p in enumerate(layers):
        normed = F.layer_norm(h, (dim,), s[p + "norm.weight"], s[p + "norm.bias"])
        out, a = _attention(s, p, normed, method)
        h = h + out
        maps.append(a)
        if i == 0:
            cls, feat = h[:, 0], h[:, 1:]
            grid = feat.transpose(1, 2).view(1, dim, side, side)
            grid = (F.conv2d(grid, s["pos_layer.proj.weight"], s["pos_layer.proj.bias"], padding=3, groups=dim) + grid
                    + F.conv2d(grid, s["pos_layer.proj1.weight"], s["pos_layer.proj1.bias"], padding=2, groups=dim)
                    + F.conv2d(grid, s["pos_layer.proj2.weight"], s["pos_layer.proj2.bias"], padding=1, groups=dim))
            h = torch.cat((cls.unsqueeze(1), grid.flatten(2).transpose(1, 2)), dim=1)
    h = F.layer_norm(h, (dim,), s["norm.weight"], s["norm.bias"])[:, 0]
    return F.linear(h, s["_fc2.weight"], s["_fc2.bias"]), maps, n


def class_token_rollout(maps: list[torch.Tensor], n: int) -> torch.Tensor:
    """docs/explanations.md's rollout, densely: Â = rownorm((A + I) / 2) per layer, R = Â₂ Â₁; the
    class token's row over the patch tokens, padded copies added to their originals, sum 1 -> (n,)."""
    hats = []
    for a in maps:
        a_hat = (a + torch.eye(a.shape[0])) / 2
        hats.append(a_hat / a_hat.sum(1, keepdim=True))
    row = (hats[1] @ hats[0])[0, 1:]
    src = torch.cat([torch.arange(n), torch.arange(row.shape[0] - n) % n])
    att = torch.zeros(n, dtype=row.dtype).index_add_(0, src, row).clamp_min(0)
    return att / att.sum()
