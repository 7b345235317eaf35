"""S/N/R numbers of evidence subsets: per slide and over a cohort (docs/method.md §5).

Per slide (:func:`slide_outputs` gives the raw outputs; :func:`core.diagnostics.snr.slide_snr` the numbers from the intervention engine) with Φ = probability of the full bag's predicted class::

    keep-only drop          Φ(X) − Φ(X_S)          (lower is better; sufficiency)
    complement degradation  Φ(X) − Φ(X_¬S)         (higher is better; necessity; skipped if X_¬S = ∅)
    C-D gap                 |Φ(X_π) − Φ(X_S(π))|   (lower is better; recoverability)

How a GCE model predicts X_π, X_S and X_¬S is defined in :mod:`core.models.subset_rules`: X_¬S
keeps the remaining patches' gates from the full bag (the same numbers as the intervention engine).
Over a cohort (:func:`cohort_snr`) with a task metric M (accuracy for classification, Harrell's
C-index for survival): ``keep_only_drop = M(X) − M(X_S)``, ``evidence_sufficiency = M(X_S)``,
``complement_degradation = M(X) − M(X_¬S)`` (over slides with a non-empty complement),
``cd_gap`` = mean per-slide gap, ``evidence_fraction`` = mean |S|/N, plus the per-slide Φ means
(``*_phi``). Survival Φ is the risk mapped to [0, 1] by a sigmoid of the risk standardised over
the cohort's full-bag risks **[decision]**. Regression: M = Spearman's ρ between the predicted
values and the targets (rank-based like the C-index, so the target's scale does not matter), Φ =
the output in target-SD units and the per-slide Φ numbers are absolute changes ``|Φ(X) − Φ(X')|``
**[decision]** (docs/regression.md).
"""

from __future__ import annotations

import numpy as np
import torch

from core.models.access import MILModel, bag_output, full_output, is_gce_model

__all__ = ["cohort_snr", "concordance_index", "evidence_precision_recall", "slide_outputs"]


@torch.no_grad()
def slide_outputs(model: MILModel, features: torch.Tensor, coords: torch.Tensor | None, indices: np.ndarray) -> dict:
    """Raw outputs of one slide under the full bag, its evidence and the complement.

    Parameters
    ----------
    features
        (N, D) float tensor. coords: (N, 2) or ``None``. indices: (K,) int evidence patches.

    Returns
    -------
    dict
        ``full`` (C,) float64 output on X_π, ``keep`` on X_S, ``comp`` on X_¬S (GCE: the full
        bag's gates of the remaining patches) or ``None`` when the complement is empty, ``fraction`` = K / N.
    """
    n = features.shape[0]
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    mask = torch.ones(n, dtype=torch.bool)
    mask[idx] = False
    sub = lambda m: (features[m], None if coords is None else coords[m])
    full, gates = full_output(model, features, coords)  # X_π and the full bag's (N,) gates (or None)
    keep = bag_output(model, *sub(idx), hard=is_gce_model(model))
    comp = None
    if bool(mask.any()):
        comp = bag_output(model, *sub(mask), gates=None if gates is None else gates[mask])
    as_np = lambda t: None if t is None else t.cpu().double().numpy()
    return {"full": as_np(full), "keep": as_np(keep), "comp": as_np(comp), "fraction": idx.numel() / n}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def concordance_index(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C: (n,) risks (higher = earlier event), times, events -> float in [0, 1]."""
    num = den = 0.0
    for i in np.flatnonzero(np.asarray(event) > 0):
        later = time > time[i]
        den += later.sum()
        num += (risk[i] > risk[later]).sum() + 0.5 * (risk[i] == risk[later]).sum()
    return float(num / den) if den else float("nan")


def cohort_snr(slides: list[dict], task: str, labels=None, time=None, event=None) -> dict:
    """Cohort S/N/R numbers from :func:`slide_outputs` rows.

    Parameters
    ----------
    slides
        One :func:`slide_outputs` dict per slide.
    task
        ``"classification"`` (needs ``labels``: (S,) int class indices), ``"survival"`` (needs
        ``time`` and ``event``: (S,) each) or ``"regression"`` (needs ``labels``: (S,) float targets).

    Returns
    -------
    dict
        ``metric_full``, ``evidence_sufficiency``, ``keep_only_drop``, ``complement_degradation``,
        ``cd_gap``, ``evidence_fraction``, ``keep_only_drop_phi``, ``complement_degradation_phi``.
    """
    n = len(slides)
    change = (lambda d: abs(d)) if task == "regression" else (lambda d: d)
    if task == "classification":
        y = np.asarray(labels, dtype=np.int64)
        k = np.array([int(np.argmax(s["full"])) for s in slides])

        def phi(key: str, i: int) -> float:
            return float(_softmax(slides[i][key])[k[i]])

        def metric(key: str, sel: list[int]) -> float:
            return float(np.mean([int(np.argmax(slides[i][key])) == y[i] for i in sel]))
    elif task == "regression":
        y = np.asarray(labels, dtype=np.float64)

        def phi(key: str, i: int) -> float:
            return float(slides[i][key][0])

        def metric(key: str, sel: list[int]) -> float:
            from scipy.stats import spearmanr  # local: scipy only when used

            pred = np.array([float(slides[i][key][0]) for i in sel])
            return float(spearmanr(pred, y[sel]).statistic) if len(sel) > 1 and np.ptp(pred) > 0 else float("nan")
    else:
        r_full = np.array([float(s["full"][0]) for s in slides])
        mu, sd = r_full.mean(), (r_full.std() or 1.0)
        t, e = np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.int64)

        def phi(key: str, i: int) -> float:
            return float(1.0 / (1.0 + np.exp(-(float(slides[i][key][0]) - mu) / sd)))

        def metric(key: str, sel: list[int]) -> float:
            risk = np.array([float(slides[i][key][0]) for i in sel])
            return concordance_index(risk, t[sel], e[sel])

    every = list(range(n))
    with_comp = [i for i in every if slides[i]["comp"] is not None]
    m_full, m_keep = metric("full", every), metric("keep", every)
    out = {
        "metric_full": m_full,
        "evidence_sufficiency": m_keep,
        "keep_only_drop": m_full - m_keep,
        "cd_gap": float(np.mean([abs(phi("full", i) - phi("keep", i)) for i in every])),
        "evidence_fraction": float(np.mean([s["fraction"] for s in slides])),
        "keep_only_drop_phi": float(np.mean([change(phi("full", i) - phi("keep", i)) for i in every])),
        "complement_degradation": float("nan"),
        "complement_degradation_phi": float("nan"),
    }
    if with_comp:
        out["complement_degradation"] = metric("full", with_comp) - metric("comp", with_comp)
        out["complement_degradation_phi"] = float(np.mean([change(phi("full", i) - phi("comp", i)) for i in with_comp]))
    return out


def evidence_precision_recall(indices: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Precision |S ∩ T| / |S| and recall |S ∩ T| / |T| of evidence S against true evidence T (T ≠ ∅)."""
    s, t = set(np.asarray(indices).tolist()), set(np.asarray(truth).tolist())
    hit = len(s & t)
    return (hit / len(s) if s else 0.0), (hit / len(t) if t else float("nan"))
