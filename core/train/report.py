"""What a cross-validation run writes: predictions.csv, results.json, training_curves.png."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence

import numpy as np

from core.atomic import atomic_path, atomic_write_json, atomic_write_text
from core.train.metrics import task_metrics

__all__ = ["summarise", "write_predictions", "write_curves_png", "write_results"]


def _clean(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def summarise(folds: Sequence[dict], task: str) -> dict:
    """``{"task", "n_folds", "folds", "mean", "std", "pooled"}`` from the fold records.

    ``mean``/``std`` (population std) are over folds of the metric names in each fold's
    ``metrics``; ``pooled`` are the metrics of each repeat's pooled test predictions, averaged
    over repeats. NaN values are skipped (JSON ``null`` when none is left).
    """
    names = list(folds[0]["metrics"]) if folds else []
    mean, std = {}, {}
    for n in names:
        vals = np.array([f["metrics"][n] if f["metrics"][n] is not None else np.nan for f in folds], float)
        ok = vals[~np.isnan(vals)]
        mean[n] = _clean(float(ok.mean())) if ok.size else None
        std[n] = _clean(float(ok.std())) if ok.size else None

    pooled_runs = []
    for r in sorted({f["repeat"] for f in folds}):
        preds = [p for f in folds if f["repeat"] == r for p in f["predictions"]]
        targets = np.array([p["target"] for p in preds], float)
        outputs = np.array([p["output"] for p in preds], float)
        pooled_runs.append(task_metrics(task, targets, outputs))
    pooled = {n: _clean(float(np.nanmean([m[n] for m in pooled_runs]))) if any(
        not math.isnan(m[n]) for m in pooled_runs) else None for n in names}
    return {"task": task, "n_folds": len(folds), "folds": [{k: v for k, v in f.items() if k != "predictions"}
                                                            for f in folds],
            "mean": mean, "std": std, "pooled": pooled}


def write_predictions(path: str | os.PathLike, folds: Sequence[dict], task: str, classes: Sequence[str]) -> None:
    """One row per test slide and repeat: repeat, fold, slide_id, case_id, label, prediction, then
    ``prob_<class>`` (classification), ``risk`` (survival) or ``value`` (regression)."""
    extra = [f"prob_{c}" for c in classes] if task == "classification" else (["risk", "time", "event"]
                                                                             if task == "survival" else ["value"])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["repeat", "fold", "slide_id", "case_id", "label", "prediction", *extra])
    for f in folds:
        for p in f["predictions"]:
            w.writerow([f["repeat"], f["fold"], p["slide_id"], p["case_id"], p["label"], p["prediction"],
                        *[repr(float(v)) for v in p["values"]]])
    atomic_write_text(path, buf.getvalue())


def write_curves_png(path: str | os.PathLike, folds: Sequence[dict]) -> None:
    """Training and validation loss per epoch of every fold (matplotlib, Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # local: matplotlib only when used
    from matplotlib.figure import Figure  # local: matplotlib only when used

    fig = Figure(figsize=(9, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    for f in folds:
        c = f["curves"]
        ax1.plot(range(1, len(c["train_loss"]) + 1), c["train_loss"], lw=0.7, alpha=0.6)
        vl = [np.nan if v is None else v for v in c["val_loss"]]
        ax2.plot(range(1, len(vl) + 1), vl, lw=0.7, alpha=0.6)
    ax1.set(title="training loss", xlabel="epoch")
    ax2.set(title="validation loss", xlabel="epoch")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def write_results(path: str | os.PathLike, summary: dict) -> None:
    """results.json, atomically."""
    atomic_write_json(path, summary)
