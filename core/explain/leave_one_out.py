"""Leave-one-out: ``f_c(X) − f_c(X \\ {i})`` (signed).

Attention pooling, closed form from one pass (docs/explanations.md §1): with attention ``a`` (N,) (gate
log-bias included) and embeddings ``e`` (N, H), ``h_bag = Σ a_i e_i`` and
``h_bag^{−k} = (h_bag − a_k e_k) / (1 − a_k)``; all N removals cost O(N·H) plus one batched head.
Patches with ``1 − a_k < 1e-4`` (nearly all the attention) are recomputed by a masked softmax to
avoid cancellation. Removing the only patch leaves the empty bag: ``f`` of one all-zero patch.
Other hosts: N real forwards.
"""

from __future__ import annotations

import torch

from core.explain.base import BagContext, Explainer
from core.models.base import gate_log_bias

__all__ = ["LeaveOneOutExplainer"]

CHUNK = 8192
UNSTABLE = 1e-4


class LeaveOneOutExplainer(Explainer):
    """``fast=False`` forces the naive loop (for checks)."""

    name = "leave_one_out"

    def __init__(self, model, device="cpu", fast: bool = True) -> None:
        super().__init__(model, device)
        self.fast = fast and bool(self.host.pools_by_attention) and self.host.gate_mode == "attention_bias"

    def _empty(self, ctx: BagContext) -> torch.Tensor:
        x0 = torch.zeros(1, ctx.x.shape[1], dtype=ctx.x.dtype, device=ctx.x.device)
        c0 = None if ctx.coords is None else torch.zeros(1, 2, dtype=ctx.coords.dtype, device=ctx.x.device)
        return self.f(x0, c0, None, ctx.target)

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        n = ctx.x.shape[0]
        with torch.no_grad():
            full = ctx.output[ctx.target]
            if n == 1:
                return (full - self._empty(ctx)).reshape(1)
            if not self.fast:
                return self._naive(ctx, full)
            e, z = self.host.embed(ctx.x)  # (N, H), (N,)
            if ctx.gates is not None:
                z = z + gate_log_bias(ctx.gates)  # (N,)
            a = torch.softmax(z, dim=0)  # (N,)
            h = a @ e  # (H,)
            removed = torch.empty(n, dtype=torch.float32, device=ctx.x.device)
            for s in range(0, n, CHUNK):
                ak = a[s:s + CHUNK, None]  # (n', 1)
                hk = (h[None] - ak * e[s:s + CHUNK]) / (1.0 - ak).clamp_min(1e-12)  # (n', H)
                removed[s:s + CHUNK] = self.host.head(hk)[:, ctx.target]
            for k in torch.nonzero(1.0 - a < UNSTABLE).reshape(-1).tolist():
                keep = torch.ones(n, dtype=torch.bool, device=ctx.x.device)
                keep[k] = False
                ak = torch.softmax(z[keep], dim=0)  # (N−1,)
                removed[k] = self.host.head(ak @ e[keep])[ctx.target]
        return full - removed

    def _naive(self, ctx: BagContext, full: torch.Tensor) -> torch.Tensor:
        n = ctx.x.shape[0]
        out = torch.empty(n, dtype=torch.float32, device=ctx.x.device)
        for k in range(n):
            keep = torch.ones(n, dtype=torch.bool, device=ctx.x.device)
            keep[k] = False
            c = None if ctx.coords is None else ctx.coords[keep]
            g = None if ctx.gates is None else ctx.gates[keep]
            out[k] = full - self.f(ctx.x[keep], c, g, ctx.target)
        return out
