"""Localisation of every method's map against region annotations, per slide and over a cohort.

Used by ``evident audit --annotations DIR`` (docs/explanations.md §3). Per slide and method: annotation
coverage and saliency precision of the top ``top_fraction`` of patches, relevance mass inside the
annotation, and Dice of the thresholded map. Over the cohort: means with their chance levels, and
FROC (mean sensitivity at 1/8 … 8 false positives per slide).

Thresholded maps: each slide's scores are min–max scaled to [0, 1] and cut at ``threshold``
(default 0.5). docs/explanations.md asks for a threshold chosen on a validation split; an audit has none,
so the fixed cut is stated in the report rather than tuned on the slides it scores.
"""

from __future__ import annotations

import numpy as np

from core.diagnostics.localisation import FP_RATES, coverage_precision, dice, froc, relevance_mass

__all__ = ["slide_localisation", "summarise_localisation", "minmax"]


def minmax(scores: np.ndarray) -> np.ndarray:
    """(N,) scores scaled to [0, 1] (a constant map becomes all zeros)."""
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = float(s.min()), float(s.max())
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def slide_localisation(scores: dict[str, np.ndarray], truth: np.ndarray, top_fraction: float = 0.05,
                       threshold: float = 0.5) -> dict[str, dict]:
    """Per method: coverage, precision, relevance mass, Dice and their chance levels.

    Parameters
    ----------
    scores
        method -> (N,) patch scores.
    truth
        (N,) bool, patches inside the annotation (≥ 1% overlap).
    """
    t = np.asarray(truth, dtype=bool)
    out = {}
    for m, s in scores.items():
        r = coverage_precision(s, t, top_fraction)
        r.update(relevance_mass(s, t))
        r.update(dice(minmax(s), t, threshold))
        out[m] = r
    return out


def summarise_localisation(per_slide: list[dict[str, dict]], froc_inputs: dict[str, list], threshold: float = 0.5,
                           top_fraction: float = 0.05) -> dict:
    """Cohort means of :func:`slide_localisation` per method, plus FROC.

    ``froc_inputs``: method -> list of ``(scores (N,), truth (N,) bool, coords (N, 2), patch_size)``.
    Slides whose annotation holds no patch contribute no coverage (it is undefined there).
    """
    methods = sorted({m for s in per_slide for m in s})
    out = {"threshold": threshold, "top_fraction": top_fraction, "n_slides": len(per_slide), "methods": {}}
    for m in methods:
        rows = [s[m] for s in per_slide if m in s]
        agg = {}
        for key in rows[0]:
            vals = np.array([r[key] for r in rows], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            agg[key] = float(vals.mean()) if vals.size else float("nan")
        fr = froc([(minmax(s), t, c, ps) for s, t, c, ps in froc_inputs.get(m, [])], threshold)
        agg["froc"] = fr["mean_sensitivity"]
        agg["froc_chance"] = fr["mean_sensitivity_chance"]
        agg["froc_sensitivity_at"] = {str(k): v for k, v in fr["sensitivity_at"].items()}
        out["methods"][m] = agg
    out["fp_rates"] = list(FP_RATES)
    return out
