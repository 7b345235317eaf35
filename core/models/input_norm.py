"""Per-feature standardisation stored inside a host, so a checkpoint carries its own preprocessing.

MIL benchmark features (e.g. Musk1, large integers) need standardising with the training fold's
statistics; keeping them as buffers means every consumer of a checkpoint (review, recover,
explainers) feeds raw features and gets the trained model's behaviour. Identity by default.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["InputNorm", "fit_all_input_norms"]


class InputNorm(nn.Module):
    """``(x − mean) / std`` with buffers ``mean`` (D,) and ``std`` (D,) (identity until :meth:`fit`)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))  # (D,)
        self.register_buffer("std", torch.ones(dim))  # (D,)

    @torch.no_grad()
    def fit(self, features: Tensor, min_std: float = 1e-6) -> None:
        """Set mean/std from the stacked training instances ``features`` (n, D); constant columns keep std 1."""
        x = features.to(self.mean.device, torch.float64)  # (n, D)
        mean = x.mean(0)  # (D,)
        std = x.std(0, unbiased=False)  # (D,)
        std = torch.where(std > min_std, std, torch.ones_like(std))  # (D,)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))

    def forward(self, x: Tensor) -> Tensor:
        """(N, D) -> (N, D)."""
        return (x - self.mean) / self.std  # (N, D)


def fit_all_input_norms(model: nn.Module, features: Tensor) -> int:
    """Fit every :class:`InputNorm` inside ``model`` (a host's ``norm`` / ``norm_in``, a GCE model's
    host) on the stacked training instances ``features`` (n, D); returns how many were fitted."""
    norms = [m for m in model.modules() if isinstance(m, InputNorm)]
    for m in norms:
        m.fit(features)
    return len(norms)
