"""Benchmark group ``evidence``: fast exact recovery against the naive greedy, same inputs.

Each case builds a bag of anchor responses the way GCE produces them (``σ(γ(cos − δ))`` of random
unit vectors, a few patches per anchor made strongly responsive) with gates from a sparse selector,
then times :func:`core.evidence.recovery.recover` and :func:`recover_naive` (each the best of the
same number of runs, one thread as set by the caller) and checks they agree. ``max_abs_diff`` is the
largest coverage difference (0 when the subsets agree), ``same_subset`` says whether the patch lists
are identical (same patches, same order), ``same_stop`` whether the stop reasons are, and
``repair_steps`` counts the patches repair added after the threshold set.
"""

from __future__ import annotations

import numpy as np

from core.evidence.recovery import recover, recover_naive
from core.timing import best_ms

__all__ = ["GROUP", "make_case", "run"]

GROUP = "evidence"


def make_case(n: int, m: int = 8, *, seed: int = 0, gate_rate: float = 0.002, strong_rate: float = 0.01, d: int = 32):
    """A synthetic GCE-like bag.

    Returns
    -------
    gates
        (n,) float64 in (0, 1): about ``gate_rate · n`` gates above 0.5.
    responses
        (n, m) float64 ``σ(8 (cos − 0.15))`` of random features against random anchors.
    class_weights
        (m,) float64 positive.
    """
    rng = np.random.default_rng(seed)
    anchors = rng.standard_normal((m, d))
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    h = rng.standard_normal((n, d)).astype(np.float64)
    owner = rng.integers(0, m, size=n)
    strong = rng.random(n) < strong_rate  # these patches look like one anchor's morphology
    h[strong] += 3.0 * anchors[owner[strong]] * np.sqrt(d)
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    cos = h @ anchors.T  # (n, m)
    responses = 1.0 / (1.0 + np.exp(-8.0 * (cos - 0.15)))
    logits = rng.normal(-6.0, 1.0, size=n)
    logits[rng.random(n) < gate_rate] += 10.0
    gates = 1.0 / (1.0 + np.exp(-logits))
    class_weights = np.log1p(np.exp(rng.normal(0.0, 1.0, size=m)))
    return gates, responses, class_weights


def run(quick: bool = False) -> list[dict]:
    """Time recovery on bags of 10k and 100k patches (quick: 10k only).

    Cases: ``threshold`` (the gates alone meet the target), ``repair`` (only the top gate passes τ:
    repair adds the rest), ``repair-strict`` (rarer strong patches, c = 0.999),
    ``repair-weak`` (no strong patches), ``many-steps`` (uniformly weak responses: hundreds of steps).

    Returns
    -------
    list[dict]
        Rows ``{case, ours_ms, baseline_ms, speedup, max_abs_diff, same_subset, same_stop, n_selected,
        repair_steps, stop_reason}``.
    """
    sizes = [10_000] if quick else [10_000, 100_000]
    kinds = {  # name -> (gate_rate, strong_rate, coverage target)
        "threshold": (0.002, 0.01, 0.95),
        "repair": (0.0, 0.01, 0.95),
        "repair-strict": (0.0, 0.001, 0.999),
        "repair-weak": (0.0, 0.0, 0.95),  # no strong patches
        "many-steps": (0.0, 0.0, 0.999),  # responses uniform in [0, 0.02]: hundreds of repair steps
    }
    rows = []
    for n in sizes:
        for kind, (gate_rate, strong_rate, target) in kinds.items():
            g, r, a = make_case(n, gate_rate=gate_rate, strong_rate=strong_rate)
            if kind == "many-steps":
                r = np.random.default_rng(1).uniform(0.0, 0.02, size=r.shape)
            repeats = 3 if quick else 5
            ours_ms, ours = best_ms(
                lambda g=g, r=r, a=a, c=target: recover(g, r, a, coverage_target=c), repeats, warmup=False
            )
            base_ms, base = best_ms(
                lambda g=g, r=r, a=a, c=target: recover_naive(g, r, a, coverage_target=c), repeats, warmup=False
            )
            rows.append(
                {
                    "case": f"recover {kind} N={n} M={r.shape[1]} c={target}",
                    "ours_ms": round(ours_ms, 3),
                    "baseline_ms": round(base_ms, 3),
                    "speedup": round(base_ms / ours_ms, 2),
                    "max_abs_diff": float(np.max(np.abs(ours.coverage - base.coverage))),
                    "same_subset": bool(np.array_equal(ours.indices, base.indices)),
                    "same_stop": ours.stop_reason == base.stop_reason,
                    "n_selected": int(ours.indices.size),
                    "repair_steps": int(ours.indices.size - ours.n_threshold),
                    "stop_reason": ours.stop_reason,
                }
            )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
