"""The in-memory feature bag shared by every part of core (readers, models, explainers, viewer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FeatureBag"]


@dataclass(frozen=True, eq=False)
class FeatureBag:
    """One slide's patch features and where the patches lie.

    Attributes
    ----------
    features
        (N, D) float32 patch features, finite.
    coords
        (N, 2) int64 level-0 (x, y) of each patch's top-left corner.
    patch_size_level0
        Side of a patch in level-0 pixels, or ``None`` when unknown (e.g. non-image bags).
    slide_id
        Identifier (usually the slide file stem).
    source
        The file it was read from, ``""`` for bags built in memory.
    attrs
        Everything else the file carried (layout-specific attributes), JSON-serialisable values.
    """

    features: np.ndarray
    coords: np.ndarray
    patch_size_level0: int | None = None
    slide_id: str = ""
    source: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_patches(self) -> int:
        """N, the number of patches."""
        return int(self.features.shape[0])

    @property
    def feature_dim(self) -> int:
        """D, the feature width."""
        return int(self.features.shape[1])
