"""Integrated gradients, zero baseline: ``Σ_d x_id · avg_k ∂f_c(α_k X)/∂x_id`` (signed).

**[decision]** Riemann midpoint rule: ``α_k = (k + ½) / n`` for ``k = 0..n−1`` (Captum's
``riemann_middle``), ``n = 50`` by default. Every step is one bag of N patches (never one bag of
``n·N``); steps are evaluated ``steps_per_pass`` at a time (separate leaf tensors, one backward).
"""

from __future__ import annotations

import torch

from core.explain.base import BagContext, Explainer

__all__ = ["IntegratedGradientsExplainer", "midpoint_alphas"]


def midpoint_alphas(n_steps: int) -> list[float]:
    """The n midpoint scalings ``(k + 0.5) / n``."""
    return [(k + 0.5) / n_steps for k in range(n_steps)]


class IntegratedGradientsExplainer(Explainer):
    """Integrated gradients with a zero baseline bag of the same size."""

    name = "ig"

    def __init__(self, model, device="cpu", n_steps: int = 50, steps_per_pass: int = 10) -> None:
        super().__init__(model, device)
        self.n_steps = int(n_steps)
        self.steps_per_pass = max(1, int(steps_per_pass))

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        alphas = midpoint_alphas(self.n_steps)
        total = torch.zeros_like(ctx.x)  # (N, D)
        with torch.enable_grad():
            for s in range(0, len(alphas), self.steps_per_pass):
                xs = [(a * ctx.x).detach().requires_grad_(True) for a in alphas[s:s + self.steps_per_pass]]  # each (N, D)
                f = sum(self.f(xk, ctx.coords, ctx.gates, ctx.target) for xk in xs)
                for g in torch.autograd.grad(f, xs):
                    total += g
        return (ctx.x * total / self.n_steps).sum(dim=1)  # (N,)
