"""Random baseline scores: seeded ``N(0, 1)`` per patch."""

from __future__ import annotations

import numpy as np

from core.explain.base import BagContext, Explainer

__all__ = ["RandomExplainer"]


class RandomExplainer(Explainer):
    """Scores drawn from ``N(0, 1)`` with ``numpy.random.default_rng(seed)``."""

    name = "random"

    def __init__(self, model, device="cpu", seed: int = 0) -> None:
        super().__init__(model, device)
        self.seed = int(seed)

    def _scores(self, ctx: BagContext) -> np.ndarray:
        return np.random.default_rng(self.seed).standard_normal(ctx.x.shape[0]).astype(np.float32)
