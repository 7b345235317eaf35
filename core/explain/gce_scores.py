"""GCE scores: the gates ``π_i`` and the membership of the recovered discrete subset (docs/method.md §4)."""

from __future__ import annotations

import numpy as np
import torch

from core.errors import EvidentError
from core.explain.base import BagContext, Explainer
from core.models.access import is_gce_model
from core.models.subset_rules import gce_evidence

__all__ = ["GCEGateExplainer", "GCESubsetExplainer"]


class _NeedsGCE(Explainer):
    def __init__(self, model, device="cpu") -> None:
        if not is_gce_model(model):
            raise EvidentError(None, f"method {self.name!r} needs a GCE model (this checkpoint has none or the 'backbone' ablation)")
        super().__init__(model, device)


class GCEGateExplainer(_NeedsGCE):
    """``π_i`` in [0, 1] (the target does not change it)."""

    name = "gce_gate"

    def _scores(self, ctx: BagContext) -> torch.Tensor:
        return ctx.gates


class GCESubsetExplainer(_NeedsGCE):
    """1 for patches in the recovered evidence subset, else 0."""

    name = "gce_subset"

    def _scores(self, ctx: BagContext) -> np.ndarray:
        rec, _ = gce_evidence(self.model, ctx.x, ctx.coords)
        s = np.zeros(ctx.x.shape[0], dtype=np.float32)
        s[np.asarray(rec.indices, dtype=np.int64)] = 1.0
        return s
