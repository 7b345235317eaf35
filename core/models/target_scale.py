"""The regression target's scale: a regression model predicts the target standardised on its training fold.

``evident train --task regression`` fits ``(mean, sd)`` of the training part of each fold's targets
(validation and test cases excluded), trains on ``z = (y − mean) / sd`` with MSE, and stores the
pair in the checkpoint's config as ``"target_scale": [mean, sd]``. Every output of such a model is
in *target-SD units* (z); :func:`to_value` turns it back into target units for results.json,
predictions.csv, evidence files and the viewer. Interventions measure their changes in z, so their
tolerances read as fractions of the target's training-fold SD (docs/regression.md).

Torch-free: the viewer and the CLI read it without loading a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import EvidentError

__all__ = ["TargetScale", "fit_target_scale", "target_scale_of"]


@dataclass(frozen=True)
class TargetScale:
    """``mean`` and ``sd`` (> 0) of the training fold's targets, in target units."""

    mean: float = 0.0
    sd: float = 1.0

    def to_value(self, z) -> np.ndarray:
        """Model output(s) in target-SD units -> target units: ``mean + sd · z`` (float64, same shape)."""
        return self.mean + self.sd * np.asarray(z, dtype=np.float64)

    def to_z(self, value) -> np.ndarray:
        """Target units -> target-SD units: ``(value − mean) / sd`` (float64, same shape)."""
        return (np.asarray(value, dtype=np.float64) - self.mean) / self.sd

    def to_config(self) -> list[float]:
        """``[mean, sd]`` as stored under ``"target_scale"`` in a checkpoint config."""
        return [float(self.mean), float(self.sd)]


def fit_target_scale(values) -> TargetScale:
    """Mean and population SD of ``values`` ((n,) float target units); SD 0 (one value) becomes 1.

    Raises
    ------
    EvidentError
        No values, or a value that is not finite.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0 or not np.isfinite(v).all():
        raise EvidentError(None, "regression targets must be finite numbers (none given, or NaN/inf)")
    sd = float(v.std())
    return TargetScale(float(v.mean()), sd if sd > 0 else 1.0)


def target_scale_of(config: dict | None) -> TargetScale | None:
    """The :class:`TargetScale` a checkpoint config records, ``None`` when it records none (not a
    regression model trained by Evident).

    Raises
    ------
    EvidentError
        ``"target_scale"`` present but not two finite numbers with a positive SD.
    """
    raw = (config or {}).get("target_scale")
    if raw is None:
        return None
    try:
        mean, sd = (float(x) for x in raw)
    except (TypeError, ValueError):
        raise EvidentError(None, f"checkpoint config: target_scale must be [mean, sd], got {raw!r}") from None
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise EvidentError(None, f"checkpoint config: target_scale must be finite with sd > 0, got {raw!r}")
    return TargetScale(mean, sd)
