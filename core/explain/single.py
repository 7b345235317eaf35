"""Single-patch scores: ``f_c({x_i})``, the model on a bag holding only patch i (signed).

Attention pooling: a one-patch bag has attention 1 (whatever its gate bias), so the score is the
head applied to that patch's embedding -- one batched pass for all N. Other hosts: a loop of N
one-patch forwards (with the patch's fixed gate).
"""

from __future__ import annotations

import torch

from core.explain.base import BagContext, Explainer

__all__ = ["SingleExplainer"]

CHUNK = 8192


class SingleExplainer(Explainer):
    """``fast=False`` forces the naive loop (for checks)."""

    name = "single"

    def __init__(self, model, device="cpu", fast: bool = True) -> None:
        super().__init__(model, device)
        self.fast = fast and bool(self.host.pools_by_attention)

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        n = ctx.x.shape[0]
        out = torch.empty(n, dtype=torch.float32, device=ctx.x.device)
        with torch.no_grad():
            if self.fast:
                for s in range(0, n, CHUNK):
                    e, _ = self.host.embed(ctx.x[s:s + CHUNK])  # (n', H)
                    out[s:s + CHUNK] = self.host.head(e)[:, ctx.target]  # (n',)
                return out
            for i in range(n):
                c = None if ctx.coords is None else ctx.coords[i:i + 1]
                g = None if ctx.gates is None else ctx.gates[i:i + 1]
                out[i] = self.f(ctx.x[i:i + 1], c, g, ctx.target)
        return out
