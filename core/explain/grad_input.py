"""Gradient × input: ``Σ_d x_id ∂f_c/∂x_id`` per patch (signed)."""

from __future__ import annotations

import torch

from core.explain.base import BagContext, Explainer
from core.explain.gradient import input_gradient

__all__ = ["GradInputExplainer"]


class GradInputExplainer(Explainer):
    """Gradient times input summed over the feature dimension."""

    name = "grad_input"

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        return (ctx.x * input_gradient(self, ctx)).sum(dim=1)  # (N,)
