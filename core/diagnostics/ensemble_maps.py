"""Ensemble maps: one explanation map per fold (or seed) model of a slide, summarised per patch.

For F member models and one slide of N patches, :func:`member_maps` computes the (F, N) maps of one
explanation method (:mod:`core.explain.registry`, every member explaining the same class) and
:func:`ensemble_stats` summarises them:

* ``mean``        (N,) per-patch mean over the members, in the map's own units;
* ``std``         (N,) per-patch population standard deviation (the *spread*), same units;
* ``rank_spread`` (N,) per-patch standard deviation of the patch's percentile rank (0–100, 100 =
  the member's top patch) over the members: where the members disagree on the ordering, whatever
  the scale of each member's map;
* ``rank_agreement``  mean pairwise Spearman ρ of the member maps (NaN with fewer than 2 members or
  when a member's map is constant).

How the members are chosen (out-of-fold when possible) and where the results are stored: docs/ensemble_maps.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

__all__ = ["EnsembleStats", "ensemble_stats", "member_maps"]


@dataclass(frozen=True, eq=False)
class EnsembleStats:
    """Per-patch summaries of F member maps (shapes in the module docstring)."""

    mean: np.ndarray
    std: np.ndarray
    rank_spread: np.ndarray
    rank_agreement: float
    n_members: int


def _percentile_ranks(maps: np.ndarray) -> np.ndarray:
    """(F, N) maps -> (F, N) percentile ranks in [0, 100] (ties share their mean rank; N = 1: 100)."""
    from scipy.stats import rankdata  # local: scipy only when used

    f, n = maps.shape
    if n < 2:
        return np.full((f, n), 100.0)
    return 100.0 * (rankdata(maps, method="average", axis=1) - 1.0) / (n - 1.0)


def ensemble_stats(maps: np.ndarray) -> EnsembleStats:
    """Summarise (F, N) member maps (F >= 1 members, N patches, finite values).

    Returns
    -------
    EnsembleStats
        ``mean``/``std``/``rank_spread`` (N,) float64; ``rank_agreement`` the mean pairwise Spearman ρ.

    Raises
    ------
    ValueError
        Not a 2-D array with at least one member, or non-finite values.
    """
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 1:
        raise ValueError(f"member maps must be (F, N) with F >= 1, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("member maps hold non-finite values")
    ranks = _percentile_ranks(m)
    rhos = []
    for a, b in combinations(range(m.shape[0]), 2):
        ra, rb = ranks[a] - ranks[a].mean(), ranks[b] - ranks[b].mean()
        denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
        rhos.append(float((ra * rb).sum() / denom) if denom > 0 else np.nan)
    agreement = float(np.mean(rhos)) if rhos and not np.isnan(rhos).any() else float("nan")
    return EnsembleStats(mean=m.mean(axis=0), std=m.std(axis=0), rank_spread=ranks.std(axis=0),
                         rank_agreement=agreement, n_members=int(m.shape[0]))


def member_maps(models: Sequence, features: np.ndarray, coords: np.ndarray, method: str, target: int | None,
                *, device="cpu", options: dict | None = None) -> np.ndarray:
    """Map ``method`` of every model in ``models`` for one slide, all explaining class ``target``.

    Parameters
    ----------
    models
        F models in eval mode on ``device`` (the same task, classes and feature dimension).
    features, coords
        (N, d) float features and (N, 2) level-0 patch corners of the slide.
    target
        The explained output (``None``: each model's own predicted class; give one so the maps
        of the members are comparable).
    options
        Keyword arguments for the explainer (e.g. ``{"n_steps": 20}`` for ``ig``).

    Returns
    -------
    np.ndarray
        (F, N) float64.
    """
    from core.explain.registry import build_explainer  # local: torch only when used

    out = []
    for model in models:
        ex = build_explainer(method, model, device=device, **(options or {}))
        out.append(np.asarray(ex.attribute(features, coords, target=target), dtype=np.float64).reshape(-1))
    return np.stack(out)
