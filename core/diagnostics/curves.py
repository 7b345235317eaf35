"""Patch dropping and insertion curves (xMIL protocol, docs/explanations.md §2).

Per slide and method: patches ordered most-relevant-first (MoRF) or least-relevant-first (LeRF);
100 steps of about 1 % of the patches each (step boundaries at the score-rank percentiles
``round(k · N / 100)``), 101 curve points. Tracked value: probability of the explained class
(classification) or the raw output (survival risk / regression). Drop starts at ``f(X)`` and removes
the next chunk each step (the rest keeps its original order); insert starts from the empty bag --
``f`` of one all-zero patch -- and adds the top chunks. AUPC = mean of the 101 points; drop + MoRF:
lower is better; faithfulness gain = ``AUPC_insert − AUPC_drop``, higher is better.

Cohort: slides whose full-bag prediction is wrong or whose explained-class probability is ≤ 0.5 are
excluded; mean ± std per method, and a paired two-sided Wilcoxon signed-rank test of each method
against the random-score baseline (scipy).
"""

from __future__ import annotations

import numpy as np

from core.diagnostics.interventions import InterventionEngine

__all__ = ["N_STEPS", "keep_slide", "perturbation_curve", "slide_curves", "step_counts", "summarise_curves"]

N_STEPS = 100


def step_counts(n: int, n_steps: int = N_STEPS) -> np.ndarray:
    """(n_steps + 1,) int64 number of patches taken after each step: ``round(k n / n_steps)``."""
    return np.rint(np.arange(n_steps + 1) * n / n_steps).astype(np.int64)


def _tracked(engine: InterventionEngine, outputs: np.ndarray, target: int) -> np.ndarray:
    """(B, C) raw outputs -> (B,) tracked value (class probability or raw output)."""
    return engine._probs(outputs)[:, target] if engine.task == "classification" else outputs[:, 0]


def perturbation_curve(engine: InterventionEngine, scores: np.ndarray, *, mode: str = "drop",
                       order: str = "morf", target: int | None = None, n_steps: int = N_STEPS) -> np.ndarray:
    """(n_steps + 1,) float64 curve of the tracked value.

    Parameters
    ----------
    scores
        (N,) patch scores of one method.
    mode
        ``"drop"`` or ``"insert"``. order: ``"morf"`` or ``"lerf"``.
    target
        Explained class (default: the full bag's predicted class).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape[0] != engine.n:
        raise ValueError(f"{s.shape[0]} scores for a bag of {engine.n} patches")
    rank = np.argsort(-s if order == "morf" else s, kind="stable")  # (N,)
    sets = [rank[:k] for k in step_counts(engine.n, n_steps)]
    res = engine.remove_many(sets) if mode == "drop" else engine.keep_only_many(sets)
    return _tracked(engine, res.outputs, engine.predicted if target is None else int(target))


def slide_curves(engine: InterventionEngine, scores_by_method: dict[str, np.ndarray], target: int | None = None) -> dict[str, dict]:
    """Per method: ``drop`` and ``insert`` curves (MoRF), ``aupc_drop``, ``aupc_insert``, ``gain``."""
    out = {}
    for name, s in scores_by_method.items():
        drop = perturbation_curve(engine, s, mode="drop", target=target)
        ins = perturbation_curve(engine, s, mode="insert", target=target)
        out[name] = {"drop": drop, "insert": ins, "aupc_drop": float(drop.mean()), "aupc_insert": float(ins.mean()),
                     "gain": float(ins.mean() - drop.mean())}
    return out


def keep_slide(engine: InterventionEngine, label: int | None) -> bool:
    """The exclusion rule: keep a classification slide only if predicted right with probability > 0.5."""
    if engine.task != "classification":
        return True
    return label is not None and engine.predicted == int(label) and engine.phi_before > 0.5


def summarise_curves(per_slide: list[dict[str, dict]], baseline: str = "random") -> dict[str, dict]:
    """Cohort summary per method of :func:`slide_curves` results (already filtered by :func:`keep_slide`).

    Returns
    -------
    dict
        method -> ``n``, ``aupc_drop_mean``/``_std``, ``aupc_insert_mean``/``_std``, ``gain_mean``/``_std``,
        and ``p_drop_vs_<baseline>`` / ``p_gain_vs_<baseline>`` (paired Wilcoxon; NaN when undefined).
    """
    from scipy.stats import wilcoxon  # local: scipy only when used

    methods = sorted({m for s in per_slide for m in s})
    table = {}
    for m in methods:
        rows = [s for s in per_slide if m in s]
        row: dict = {"n": len(rows)}
        for key in ("aupc_drop", "aupc_insert", "gain"):
            v = np.array([r[m][key] for r in rows])
            row[f"{key}_mean"] = float(v.mean()) if v.size else float("nan")
            row[f"{key}_std"] = float(v.std()) if v.size else float("nan")
        if m != baseline:
            paired = [r for r in rows if baseline in r]
            for key in ("aupc_drop", "gain"):
                a = np.array([r[m][key] for r in paired])
                b = np.array([r[baseline][key] for r in paired])
                p = float("nan")
                if a.size >= 2 and np.any(a != b):
                    p = float(wilcoxon(a, b).pvalue)
                row[f"p_{key.split('_')[-1]}_vs_{baseline}"] = p
        table[m] = row
    return table
