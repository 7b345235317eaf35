"""S/N/R per slide and per cohort, and the same-budget comparison of subset rules (docs/method.md §2, §5).

Per slide, for an evidence subset S chosen on bag X (Φ: probability of the full bag's predicted
class; predictions from :class:`core.diagnostics.interventions.InterventionEngine`, gates fixed)::

    keep_only_drop          Φ(X) − Φ(X_S)            lower is better (sufficiency)
    complement_degradation  Φ(X) − Φ(X_¬S)           higher is better (necessity); NaN if X_¬S = ∅
    (regression: |Φ(X) − Φ(X_S)| and |Φ(X) − Φ(X_¬S)|, Φ the prediction in target-SD units)
    cd_gap                  |Φ(X_π) − Φ(X_S(π))|     GCE only: X_S(π) kept with every gate 1

The cohort numbers (task metric M over the replaced bags) come from
:func:`core.diagnostics.cohort_snr.cohort_snr`, fed the raw outputs of each slide.

Same-budget rules select ``k = ceil(fraction · N)`` patches (default 5 %): ``random`` (seed 42),
top-k of an explanation method's scores (``attention``, ``gradient``, ``ig``, ``single``, ``lrp``,
...), and ``gce`` (the recovered discrete subset, whatever its size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.diagnostics.cohort_snr import cohort_snr
from core.diagnostics.interventions import InterventionEngine
from core.errors import EvidentError
from core.explain.registry import build_explainer
from core.models.subset_rules import topk_count

__all__ = ["DEFAULT_RULES", "SlideSNR", "cohort_table", "same_budget", "select_rule", "slide_snr", "topk_indices"]

DEFAULT_RULES = ("random", "attention", "gradient", "ig", "single", "lrp", "gce")
RANDOM_SEED = 42


@dataclass(frozen=True)
class SlideSNR:
    """One slide's S/N/R numbers for one subset (raw outputs are (C,) float64; ``indices`` (K,) int64 the subset)."""

    keep_only_drop: float
    complement_degradation: float
    cd_gap: float
    fraction: float
    full: np.ndarray
    keep: np.ndarray
    comp: np.ndarray | None
    indices: np.ndarray | None = None

    def as_cohort_row(self) -> dict:
        """The dict :func:`core.diagnostics.cohort_snr.cohort_snr` expects."""
        return {"full": self.full, "keep": self.keep, "comp": self.comp, "fraction": self.fraction}


def slide_snr(engine: InterventionEngine, indices, *, hard: bool | None = None) -> SlideSNR:
    """S/N/R numbers of subset ``indices`` ((K,) int) on the engine's bag.

    ``hard`` (default: True for a GCE model) keeps S with every gate 1, the discrete-evidence inference.
    """
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    gce = engine.gates is not None
    hard = gce if hard is None else hard
    many_keep = engine.keep_only_many([idx], hard=hard)
    comp_empty = idx.size >= engine.n
    rm = None if comp_empty else engine.remove_many([idx])
    cd = float("nan")
    if gce:
        cd = abs(engine.phi_before - float(many_keep.phi[0]))
    return SlideSNR(
        keep_only_drop=float(engine.phi_drop(many_keep.outputs)[0]),
        complement_degradation=float("nan") if rm is None else float(engine.phi_drop(rm.outputs)[0]),
        cd_gap=cd, fraction=idx.size / engine.n, full=engine.output_before.copy(), keep=many_keep.outputs[0],
        comp=None if rm is None else rm.outputs[0], indices=idx,
    )


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """(k,) int64 indices of the k highest scores (ties broken by index, stable)."""
    return np.sort(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]).astype(np.int64)


def select_rule(rule: str, model, features, coords, fraction: float = 0.05, scores: np.ndarray | None = None) -> np.ndarray:
    """The subset a rule picks on one bag: (K,) int64.

    Parameters
    ----------
    rule
        ``"random"``, ``"gce"``, or an explanation-method name (top-k of its scores).
    scores
        (N,) precomputed scores of that method (skips recomputing them).
    """
    n = int(np.shape(features)[0])
    k = topk_count(n, fraction)
    if rule == "random":
        return np.sort(np.random.default_rng(RANDOM_SEED).choice(n, size=k, replace=False)).astype(np.int64)
    if rule == "gce":
        s = build_explainer("gce_subset", model).attribute(features, coords) if scores is None else scores
        return np.flatnonzero(np.asarray(s) > 0.5).astype(np.int64)
    if scores is None:
        scores = build_explainer(rule, model).attribute(features, coords)
    return topk_indices(scores, k)


def same_budget(model, features, coords, rules=DEFAULT_RULES, fraction: float = 0.05,
                scores: dict[str, np.ndarray] | None = None, engine: InterventionEngine | None = None) -> dict[str, SlideSNR]:
    """S/N/R of every rule's subset on one bag (rules the model cannot support are left out)."""
    eng = engine or InterventionEngine(model, features, coords)
    out: dict[str, SlideSNR] = {}
    for rule in rules:
        try:
            idx = select_rule(rule, model, features, coords, fraction, (scores or {}).get(rule if rule != "gce" else "gce_subset"))
        except EvidentError:
            continue
        out[rule] = slide_snr(eng, idx, hard=(rule == "gce") if eng.gates is not None else False)
    return out


def cohort_table(per_slide: list[dict[str, SlideSNR]], task: str, labels=None, time=None, event=None) -> dict[str, dict]:
    """Cohort S/N/R per rule from :func:`same_budget` results of every slide."""
    rules = sorted({r for s in per_slide for r in s})
    table = {}
    for rule in rules:
        rows = [i for i, s in enumerate(per_slide) if rule in s]
        def pick(a, rows=rows):
            return None if a is None else np.asarray(a)[rows]

        res = cohort_snr([per_slide[i][rule].as_cohort_row() for i in rows], task, pick(labels), pick(time), pick(event))
        gaps = [per_slide[i][rule].cd_gap for i in rows]
        res["cd_gap"] = float(np.nanmean(gaps)) if np.isfinite(gaps).any() else float("nan")
        res["n_slides"] = len(rows)
        table[rule] = res
    return table
