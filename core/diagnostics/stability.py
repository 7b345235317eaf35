"""Stability of evidence across training seeds: Jaccard overlap and prediction flips (docs/method.md §5)."""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = ["jaccard", "stability"]


def jaccard(a, b) -> float:
    """``|A ∩ B| / |A ∪ B|`` of two index sets; 1.0 when both are empty."""
    sa, sb = set(np.asarray(a).reshape(-1).tolist()), set(np.asarray(b).reshape(-1).tolist())
    union = sa | sb
    return 1.0 if not union else len(sa & sb) / len(union)


def stability(subsets: list[list[np.ndarray]], predictions: list[np.ndarray]) -> dict:
    """Across R ≥ 2 seeds on the same S slides.

    Parameters
    ----------
    subsets
        ``subsets[r][s]``: (K,) int evidence indices of seed r on slide s.
    predictions
        ``predictions[r]``: (S,) int predicted class of seed r per slide.

    Returns
    -------
    dict
        ``jaccard_mean``, ``jaccard_std`` over all seed pairs × slides, ``flip_rate``: fraction of
        (seed pair, slide) with different predictions, ``unstable_slides``: fraction of slides whose
        prediction is not the same under every seed.
    """
    if len(subsets) < 2 or len(subsets) != len(predictions):
        raise ValueError("stability needs the same number (≥ 2) of subset lists and prediction arrays")
    n = len(subsets[0])
    jac = [jaccard(subsets[r][s], subsets[q][s]) for r, q in combinations(range(len(subsets)), 2) for s in range(n)]
    preds = np.stack([np.asarray(p).reshape(-1) for p in predictions])  # (R, S)
    flips = [float(np.mean(preds[r] != preds[q])) for r, q in combinations(range(len(preds)), 2)]
    return {"jaccard_mean": float(np.mean(jac)), "jaccard_std": float(np.std(jac)), "flip_rate": float(np.mean(flips)),
            "unstable_slides": float(np.mean((preds != preds[0]).any(axis=0)))}
