"""The demo's closing numbers: accuracy with / without GCE, C-D gap, evidence precision vs the truth.

* accuracy / AUC: the mean over cross-validation folds from ``models/<name>/results.json``;
* C-D gap: mean over slides of the ``cd_gap`` the recovered subset's S/N/R numbers hold in the
  evidence files (docs/method.md §5: ``|Φ(X_π) − Φ(X_S(π))|``, lower is better);
* evidence precision / recall of the recovered GCE subset against the true epidermis patches
  (patches overlapping the slide's ``Epidermis`` annotation), over the positive slides;
* R-precision of every score map: the fraction of true patches among a positive slide's top-k
  patches, k = its number of true patches (1 = perfect, chance = the true fraction).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_json
from core.evidence.evidence_file import read_evidence

__all__ = ["format_summary", "r_precision", "summarise_demo"]


def r_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of true patches among the top-k by ``scores`` (N,) float, k = ``truth`` (N,) bool count."""
    k = int(truth.sum())
    if k == 0:
        return float("nan")
    top = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return float(truth[top].mean())


def _results(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {k: doc["mean"].get(k) for k in ("accuracy", "auc", "macro_f1")}
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _evidence_numbers(ws: Path, cohort) -> dict | None:
    from core.data.annotations import patch_labels, read_geojson  # local: pulls in shapely

    ev_dir = ws / "evidence"
    files = {i: ev_dir / f"{i}.evidence.h5" for i in cohort.slide_ids}
    if not all(p.exists() for p in files.values()):
        return None
    cd, prec, rec, rp, n_sel = [], [], [], {}, []
    for sid, path in files.items():
        ev = read_evidence(path)
        for name, numbers in ev.snr.items():
            if name == "recovered" and "cd_gap" in numbers:
                cd.append(float(numbers["cd_gap"]))
        if cohort.labels[sid] != "positive":
            continue
        truth = patch_labels(ev.coords, cohort_patch_size(cohort), read_geojson(cohort.annotation_path(sid)))
        if not truth.any():
            continue
        if "recovered" in ev.subsets:
            idx = np.asarray(ev.subsets["recovered"].indices, dtype=np.int64)
            n_sel.append(len(idx))
            if len(idx):
                prec.append(float(truth[idx].mean()))
            rec.append(float(truth[idx].sum() / truth.sum()))
        for method, scores in ev.scores.items():
            rp.setdefault(method, []).append(r_precision(scores, truth))
    return {
        "cd_gap": _mean(cd),
        "recovered_precision": _mean(prec),
        "recovered_recall": _mean(rec),
        "recovered_size": _mean([float(v) for v in n_sel]),
        "r_precision": {m: _mean(v) for m, v in sorted(rp.items())},
    }


def cohort_patch_size(cohort) -> int:
    """The cell side (level-0 px) recorded in the cohort's truth file."""
    return int(json.loads(cohort.truth.read_text(encoding="utf-8"))["patch_size_level0"])


def summarise_demo(ws: Path, cohort, stages: dict) -> dict:
    """Collect the numbers (None where a stage did not run) and write ``WS/summary.json``."""
    summary = {
        "workspace": str(ws),
        "stages": {n: {"status": r.status, "detail": r.detail} for n, r in stages.items()},
        "n_slides": len(cohort.slide_ids),
        "n_positive": sum(v == "positive" for v in cohort.labels.values()),
        "abmil": _results(ws / "models" / "abmil" / "results.json"),
        "gce": _results(ws / "models" / "gce" / "results.json"),
        "evidence": _evidence_numbers(ws, cohort),
    }
    atomic_write_json(ws / "summary.json", summary)
    return summary


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def format_summary(s: dict) -> list[str]:
    """Human-readable lines of a summary from :func:`summarise_demo`."""
    lines = [(f"Evident demo: {s['n_slides']} virtual slides from real CMU-1 skin tissue "
              f"({s['n_positive']} with an epidermis cluster)")]
    for key, name in (("abmil", "gated ABMIL"), ("gce", "gated ABMIL + GCE")):
        r = s.get(key)
        lines.append((f"  {name:<18} accuracy {_f(r['accuracy'])}  AUC {_f(r['auc'])}")
                     if r else f"  {name:<18} not trained (see stages)")
    ev = s.get("evidence")
    if ev:
        lines.append(f"  C-D gap (recovered GCE subset)   {_f(ev['cd_gap'])}  (lower is better)")
        lines.append(f"  GCE subset vs true epidermis     precision {_f(ev['recovered_precision'])}  "
                     f"recall {_f(ev['recovered_recall'])}  mean size {_f(ev['recovered_size'])}")
        if ev["r_precision"]:
            lines.append("  R-precision vs truth: " + ", ".join(f"{m} {_f(v)}" for m, v in ev["r_precision"].items()))
    else:
        lines.append("  evidence numbers: n/a (no evidence files)")
    lines.append(f"Workspace: {s['workspace']}")
    return lines
