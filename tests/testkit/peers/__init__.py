"""Reference forwards of peer MIL models, written from each peer's published source (cited per module),
as plain functions of a state dict with the peer's own key names: ``random_state(...)`` builds
one, ``forward(state, x)`` runs the peer's computation on a bag ``x`` (N, D) in eval mode."""

from __future__ import annotations

import torch


def randn(gen: torch.Generator, *shape: int, scale: float = 0.2) -> torch.Tensor:
    """A float32 tensor of N(0, scale²) values from ``gen``."""
    return torch.randn(*shape, generator=gen) * scale
