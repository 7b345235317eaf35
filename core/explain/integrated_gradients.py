"""Integrated gradients, zero baseline: ``Σ_d x_id · Σ_k w_k ∂f_c(α_k X)/∂x_id`` (signed; docs/explanations.md §2).

Two quadrature rules for the path integral over ``α ∈ [0, 1]`` (Captum's names):

* ``"riemann_middle"`` **[decision: the default]**: midpoints ``α_k = (k + ½) / n``, ``w_k = 1/n``
  for ``k = 0..n−1``;
* ``"gausslegendre"``: Gauss–Legendre nodes and weights of numpy's ``leggauss(n)`` mapped from
  [−1, 1] to [0, 1] (``α_k = (1 + t_k)/2``, ``w_k = v_k/2``) -- Captum's default, and so the setting
  of xMIL's IG (``xai/explanation.py``, commit 1d29edf, calls ``IntegratedGradients.attribute``
  without ``method``).

``n = 50`` by default. Every step is one bag of N patches (never one bag of ``n·N``); steps are
evaluated ``steps_per_pass`` at a time (separate leaf tensors, one backward).
"""

from __future__ import annotations

import numpy as np
import torch

from core.errors import EvidentError
from core.explain.base import BagContext, Explainer

__all__ = ["IG_METHODS", "IntegratedGradientsExplainer", "midpoint_alphas", "quadrature"]

IG_METHODS = ("riemann_middle", "gausslegendre")


def midpoint_alphas(n_steps: int) -> list[float]:
    """The n midpoint scalings ``(k + 0.5) / n``."""
    return [(k + 0.5) / n_steps for k in range(n_steps)]


def quadrature(method: str, n_steps: int) -> tuple[list[float], list[float]]:
    """Scalings ``α_k`` in (0, 1) and weights ``w_k`` (summing to 1) of ``method`` with ``n_steps`` nodes.

    Raises
    ------
    EvidentError
        An unknown method or ``n_steps < 1``.
    """
    if n_steps < 1:
        raise EvidentError(None, f"integrated gradients needs at least 1 step, got {n_steps}")
    if method == "riemann_middle":
        return midpoint_alphas(n_steps), [1.0 / n_steps] * n_steps
    if method == "gausslegendre":
        t, v = np.polynomial.legendre.leggauss(n_steps)
        return (0.5 * (1 + t)).tolist(), (0.5 * v).tolist()
    raise EvidentError(None, f"unknown integrated-gradients method {method!r} (use one of: {', '.join(IG_METHODS)})")


class IntegratedGradientsExplainer(Explainer):
    """Integrated gradients with a zero baseline bag of the same size.

    ``method``: ``"riemann_middle"`` (default) or ``"gausslegendre"``; ``n_steps`` nodes.
    """

    name = "ig"

    def __init__(self, model, device="cpu", n_steps: int = 50, steps_per_pass: int = 10,
                 method: str = "riemann_middle") -> None:
        super().__init__(model, device)
        self.n_steps = int(n_steps)
        self.method = str(method)
        self.alphas, self.weights = quadrature(self.method, self.n_steps)
        self.steps_per_pass = max(1, int(steps_per_pass))

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        total = torch.zeros_like(ctx.x)  # (N, D)
        with torch.enable_grad():
            for s in range(0, self.n_steps, self.steps_per_pass):
                alphas, weights = self.alphas[s:s + self.steps_per_pass], self.weights[s:s + self.steps_per_pass]
                xs = [(a * ctx.x).detach().requires_grad_(True) for a in alphas]  # each (N, D)
                f = sum(self.f(xk, ctx.coords, ctx.gates, ctx.target) for xk in xs)
                for w, g in zip(weights, torch.autograd.grad(f, xs)):
                    total += w * g
        return (ctx.x * total).sum(dim=1)  # (N,)
