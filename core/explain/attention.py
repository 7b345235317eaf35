"""Attention scores: the host's own attention weights (TransMIL: class-token rollout, from the host)."""

from __future__ import annotations

import torch

from core.errors import EvidentError
from core.explain.base import BagContext, Explainer

__all__ = ["AttentionExplainer"]


class AttentionExplainer(Explainer):
    """``a_i`` from :class:`HostOutput.attention` under the model's gates; (N,) ≥ 0, summing to 1."""

    name = "attention"

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        with torch.no_grad():
            att = self.host(ctx.x, ctx.coords, gate=ctx.gates).attention
        if att is None:
            raise EvidentError(None, f"attention scores are not available for host {self.host.name!r}")
        return att
