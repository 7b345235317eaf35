"""Minimal-subset (non-uniqueness) diagnostic (docs/method.md §5).

A subset S is *sufficient* iff the bag X_S keeps the full bag's predicted class and
``Φ(X) − Φ(X_S) ≤ 0.05``. Starting from the whole bag as the pool, repeatedly: rank the pool by the
teacher's attention recomputed on the pool, pick a candidate of at most k patches by a policy, stop
if it is not sufficient, else record it and remove it from the pool.

Policies: ``"prefix"`` (sufficient-prefix: the shortest sufficient prefix of the ranking, length
≤ k), ``"attention"`` (the top-k of the ranking), ``"random"`` (k random pool patches, seed 42).
Per slide: the number of disjoint sufficient subsets, the keep-only drop of the first, and
``remove_union[j] = Φ(X) − Φ(X \\ (P_1 ∪ … ∪ P_j))``.
"""

from __future__ import annotations

import numpy as np

from core.diagnostics.interventions import InterventionEngine

__all__ = ["POLICIES", "TOLERANCE", "minimal_subsets", "summarise_minimal"]

POLICIES = ("prefix", "attention", "random")
TOLERANCE = 0.05


def _sufficient(engine: InterventionEngine, outputs: np.ndarray) -> np.ndarray:
    """(B, C) raw outputs -> (B,) bool sufficiency."""
    return (engine.phi_drop(outputs) <= TOLERANCE) & engine.preserves_prediction(outputs)


def minimal_subsets(engine: InterventionEngine, k: int, policy: str = "prefix", max_subsets: int = 64, seed: int = 42) -> dict:
    """Disjoint sufficient subsets of one bag.

    Returns
    -------
    dict
        ``subsets``: list of (K_j,) int64 arrays, ``n_subsets``, ``first_drop`` (NaN if none),
        ``remove_union``: list of ``Φ(X) − Φ(X \\ (P_1 ∪ … ∪ P_j))``, j = 1..n_subsets.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; use one of {POLICIES}")
    rng = np.random.default_rng(seed)
    pool = np.arange(engine.n)
    found: list[np.ndarray] = []
    first_drop = float("nan")
    while pool.size and len(found) < max_subsets:
        att = engine.keep_only(pool).attention_after
        if att is None:
            raise ValueError(f"host {engine.host.name!r} has no attention to rank the pool")
        ranked = pool[np.argsort(-att[pool], kind="stable")]
        kk = min(k, pool.size)
        if policy == "prefix":
            cands = [ranked[:j] for j in range(1, kk + 1)]
        elif policy == "attention":
            cands = [ranked[:kk]]
        else:
            cands = [rng.choice(pool, size=kk, replace=False)]
        res = engine.keep_only_many(cands)
        ok = np.flatnonzero(_sufficient(engine, res.outputs))
        if ok.size == 0:
            break
        chosen = np.sort(cands[ok[0]])
        if not found:
            first_drop = float(engine.phi_drop(res.outputs[ok[0]:ok[0] + 1])[0])
        found.append(chosen.astype(np.int64))
        pool = np.setdiff1d(pool, chosen)
    unions = [np.concatenate(found[: j + 1]) for j in range(len(found))]
    rm = engine.phi_drop(engine.remove_many(unions).outputs) if unions else np.zeros(0)
    return {"subsets": found, "n_subsets": len(found), "first_drop": first_drop,
            "remove_union": [float(p) for p in rm]}


def summarise_minimal(per_slide: list[dict], max_j: int = 3) -> dict:
    """Cohort: mean subsets per slide, % slides with ≥ 2 / ≥ 3 subsets, mean first drop, Remove-union-j."""
    n = np.array([s["n_subsets"] for s in per_slide])
    out = {"slides": len(per_slide), "mean_subsets": float(n.mean()) if n.size else float("nan"),
           "pct_ge2": float(100 * np.mean(n >= 2)) if n.size else float("nan"),
           "pct_ge3": float(100 * np.mean(n >= 3)) if n.size else float("nan"),
           "first_drop": float(np.nanmean([s["first_drop"] for s in per_slide])) if np.isfinite([s["first_drop"] for s in per_slide]).any() else float("nan")}
    for j in range(1, max_j + 1):
        v = [s["remove_union"][j - 1] for s in per_slide if len(s["remove_union"]) >= j]
        out[f"remove_union_{j}"] = float(np.mean(v)) if v else float("nan")
    return out
