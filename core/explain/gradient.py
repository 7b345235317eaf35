"""Gradient saliency: ``Σ_d (∂f_c/∂x_id)²`` per patch (≥ 0)."""

from __future__ import annotations

import torch

from core.explain.base import BagContext, Explainer

__all__ = ["GradientExplainer", "input_gradient"]


def input_gradient(explainer: Explainer, ctx: BagContext) -> torch.Tensor:
    """``∂f_c/∂x`` at the bag: (N, D) float32."""
    x = ctx.x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(explainer.f(x, ctx.coords, ctx.gates, ctx.target), x)
    return g  # (N, D)


class GradientExplainer(Explainer):
    """Squared-gradient saliency summed over the feature dimension."""

    name = "gradient"

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        return (input_gradient(self, ctx) ** 2).sum(dim=1)  # (N,)
