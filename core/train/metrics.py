"""Cohort metrics: accuracy, macro-F1, one-vs-rest AUC (scikit-learn), Harrell's C-index, and the
regression metrics MSE, RMSE, MAE, R², Pearson's r and Spearman's ρ (docs/regression.md)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["accuracy", "macro_f1", "auc", "c_index", "classification_metrics", "survival_metrics",
           "regression_metrics", "task_metrics", "METRIC_DIRECTION"]

#: +1: higher is better; −1: lower is better.
METRIC_DIRECTION = {"accuracy": 1, "macro_f1": 1, "auc": 1, "c_index": 1, "mse": -1, "rmse": -1, "mae": -1,
                    "r2": 1, "pearson": 1, "spearman": 1, "loss": -1}


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction correct: y_true (n,) int, y_pred (n,) int."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else math.nan


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of the per-class F1 over all ``n_classes`` classes (y (n,) int)."""
    from sklearn.metrics import f1_score  # local: sklearn only when used

    return float(f1_score(y_true, y_pred, labels=list(range(n_classes)), average="macro", zero_division=0))


def auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC: binary on the positive class's probability; C > 2 one-vs-rest macro average.

    Parameters
    ----------
    y_true
        (n,) int class indices.
    probs
        (n, C) float class probabilities (rows sum to 1).

    Returns
    -------
    float
        NaN when ``y_true`` holds a single class (AUC undefined), or, for C > 2, when a class is
        missing from ``y_true``.
    """
    from sklearn.metrics import roc_auc_score  # local: sklearn only when used

    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    c = probs.shape[1]
    present = np.unique(y_true)
    if present.size < 2 or (c > 2 and present.size < c):
        return math.nan
    if c == 2:
        return float(roc_auc_score(y_true, probs[:, 1]))
    p = probs / probs.sum(1, keepdims=True)
    return float(roc_auc_score(y_true, p, multi_class="ovr", average="macro", labels=list(range(c))))


def c_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray, chunk: int = 2048) -> float:
    """Harrell's concordance index.

    A pair (i, j) is comparable when ``time_i < time_j`` and ``event_i = 1`` (pairs with tied times
    are not comparable); it is concordant when ``risk_i > risk_j`` and counts ½ when the risks tie.

    Parameters
    ----------
    time
        (n,) float times. event: (n,) 0/1. risk: (n,) float predicted risk (higher = earlier).

    Returns
    -------
    float
        Concordant / comparable, NaN when no pair is comparable. O(n²) in row chunks.
    """
    t = np.asarray(time, np.float64)
    e = np.asarray(event).astype(bool)
    r = np.asarray(risk, np.float64)
    num = den = 0.0
    idx = np.flatnonzero(e)
    for s in range(0, idx.size, chunk):
        i = idx[s:s + chunk]
        comparable = t[i, None] < t[None, :]  # (k, n)
        diff = r[i, None] - r[None, :]  # (k, n)
        den += comparable.sum()
        num += (comparable & (diff > 0)).sum() + 0.5 * (comparable & (diff == 0)).sum()
    return float(num / den) if den else math.nan


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """``accuracy``, ``macro_f1``, ``auc`` from y_true (n,) int and probs (n, C)."""
    probs = np.asarray(probs)
    pred = probs.argmax(1)
    return {"accuracy": accuracy(y_true, pred), "macro_f1": macro_f1(y_true, pred, probs.shape[1]),
            "auc": auc(y_true, probs)}


def survival_metrics(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """``c_index``."""
    return {"c_index": c_index(time, event, risk)}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``mse``, ``rmse``, ``mae`` (target units), ``r2``, ``pearson``, ``spearman`` of (n,) targets and predictions.

    ``r2 = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` with ȳ the mean of ``y_true`` itself: > 0 means better than
    predicting the evaluated slides' own mean. R², Pearson and Spearman are NaN when fewer than two
    slides or a constant ``y_true`` (or constant ``y_pred`` for the correlations).
    """
    y = np.asarray(y_true, np.float64).reshape(-1)
    p = np.asarray(y_pred, np.float64).reshape(-1)
    d = p - y
    nan = math.nan
    if not d.size:
        return {"mse": nan, "rmse": nan, "mae": nan, "r2": nan, "pearson": nan, "spearman": nan}
    mse = float(np.mean(d * d))
    out = {"mse": mse, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(d))), "r2": nan, "pearson": nan,
           "spearman": nan}
    ss = float(np.sum((y - y.mean()) ** 2))
    if y.size >= 2 and ss > 0:
        out["r2"] = 1.0 - float(np.sum(d * d)) / ss
        if np.ptp(p) > 0:
            from scipy.stats import pearsonr, spearmanr  # local: scipy only when used

            out["pearson"] = float(pearsonr(y, p).statistic)
            out["spearman"] = float(spearmanr(y, p).statistic)
    return out


def task_metrics(task: str, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """Metrics of a task from stacked targets and raw outputs.

    Parameters
    ----------
    targets
        classification (n,) int; survival (n, 2) ``[time, event]``; regression (n,) float.
    outputs
        classification (n, C) logits; survival (n,) or (n, 1) risk; regression (n,) or (n, 1).
    """
    outputs = np.asarray(outputs, np.float64)
    if task == "classification":
        z = outputs - outputs.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        return classification_metrics(np.asarray(targets).astype(int), p)
    if task == "survival":
        tg = np.asarray(targets, np.float64).reshape(-1, 2)
        return survival_metrics(tg[:, 0], tg[:, 1], outputs.reshape(-1))
    if task == "regression":
        return regression_metrics(targets, outputs)
    raise ValueError(f"unknown task {task!r}")
