"""Per-slide patch masks from region annotations, and the held-out annotation metrics of a run.

``ANNOTATIONS/<slide_id>.geojson`` (QuPath GeoJSON) -> (N,) bool mask over the slide's patches in
bag order: a patch is inside when ≥ 1 % of its area overlaps an annotated polygon
(:func:`core.data.annotations.patch_labels`, docs/explanations.md §3). Slides without a file get no
mask (no explanation loss, no annotation metrics). Masks are cached in memory per run, keyed by
slide, the file's mtime and a digest of the coordinates.

The patch side (level 0) is ``patch_size`` when given, else inferred from the coordinates as the
smallest positive step between patch corners.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.diagnostics.localisation import coverage_precision, dice, relevance_mass
from core.errors import EvidentError
from core.train.report import write_results

__all__ = [
    "DICE_THRESHOLD",
    "TOP_FRACTION",
    "add_annotation_metrics",
    "annotation_masks",
    "annotation_scores",
    "infer_patch_size",
]

DICE_THRESHOLD = 0.5
TOP_FRACTION = 0.1
_CACHE: dict[tuple, np.ndarray] = {}


def infer_patch_size(coords: np.ndarray) -> int | None:
    """Smallest positive step between the (N, 2) int corners along x or y, or ``None`` (one patch)."""
    steps = []
    for axis in (0, 1):
        d = np.diff(np.unique(np.asarray(coords)[:, axis]))
        if d.size:
            steps.append(int(d.min()))
    return min(steps) if steps else None


def annotation_masks(bags: Sequence, annotations_dir: str | os.PathLike, patch_size: int | None = None,
                     min_overlap: float = 0.01,
                     transform: Callable | None = None, require_any: bool = True) -> dict[str, np.ndarray]:
    """slide_id -> (N,) bool patch mask for every bag with ``<slide_id>.geojson`` in ``annotations_dir``.

    ``require_any=False`` returns an empty dict instead of raising when no bag has an annotation
    (callers that combine several groups of bags check the union themselves).

    Parameters
    ----------
    bags
        Objects with ``slide_id`` and ``coords`` ((N, 2) int tensor or array).
    transform
        Optional geometry -> geometry map (noisy-annotation experiments); not cached.

    Raises
    ------
    EvidentError
        ``annotations_dir`` is not a folder, a file cannot be read, or no slide has an annotation.
    """
    from core.data.annotations import patch_labels, read_geojson  # local: pulls in shapely

    root = Path(annotations_dir)
    if not root.is_dir():
        raise EvidentError(root, "is not a folder of <slide_id>.geojson annotations")
    out = {}
    for b in bags:
        p = root / f"{b.slide_id}.geojson"
        if not p.is_file():
            continue
        coords = np.asarray(b.coords, dtype=np.int64)
        size = patch_size or infer_patch_size(coords)
        if size is None:
            raise EvidentError(p, "cannot infer the patch size from a one-patch bag; pass --patch-size")
        key = (b.slide_id, str(p.resolve()), p.stat().st_mtime_ns, size, min_overlap,
               hashlib.sha256(coords.tobytes()).hexdigest())
        if transform is None and key in _CACHE:
            out[b.slide_id] = _CACHE[key]
            continue
        geoms = [a.geometry for a in read_geojson(p)]
        if transform is not None:
            geoms = [transform(g) for g in geoms]
        mask = patch_labels(coords, size, geoms, min_overlap)
        if transform is None:
            _CACHE[key] = mask
        out[b.slide_id] = mask
    if not out and require_any:
        raise EvidentError(root, "holds no <slide_id>.geojson for any slide of the cohort")
    return out


def annotation_scores(model, features, coords) -> np.ndarray:
    """Per-patch evidence scores in [0, 1]: GCE gates, else the host's attention divided by its max. (N,) float64."""
    import torch  # local: torch only when used

    from core.models.gce import GCEOutput  # local: pulls in torch
    from core.train.objective import model_output  # local: pulls in torch

    model.eval()
    with torch.inference_mode():
        out = model(features, coords)
        s = out.gates if isinstance(out, GCEOutput) else model_output(out).attention
        if s is None:
            raise ValueError("the model gives no attention or gates")
        s = s.cpu().double().numpy()
    if not isinstance(out, GCEOutput):
        s = s / s.max() if s.max() > 0 else s
    return s


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    v = [x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return None, None
    return float(np.mean(v)), float(np.std(v))


def add_annotation_metrics(out: str | os.PathLike, cohort, summary: dict, masks: dict[str, np.ndarray],
                           top_fraction: float = TOP_FRACTION, threshold: float = DICE_THRESHOLD) -> dict:
    """Add held-out annotation metrics to ``summary`` and rewrite ``OUT/results.json``.

    For every fold's test slides that have a mask with ≥ 1 annotated patch: annotation coverage and
    saliency precision of the top ``top_fraction`` of scores, relevance mass, Dice at the fixed
    ``threshold`` (scores from :func:`annotation_scores`), each with its chance level
    (:mod:`core.diagnostics.localisation`); averaged over the fold's slides, then mean/std over folds.
    ``summary["annotation"] = {"mean": {...}, "std": {...}, "per_fold": [...], "top_fraction", "threshold"}``.
    """
    from core.train.folds import finished_folds  # local: pulls in torch

    out = Path(out)
    by_id = {b.slide_id: b for b in cohort.bags}
    per_fold = []
    for rec, model in finished_folds(out):
        rows = []
        for pred in rec["predictions"]:
            m = masks.get(pred["slide_id"])
            if m is None or not m.any():
                continue
            b = by_id[pred["slide_id"]]
            s = annotation_scores(model, b.features, b.coords)
            rows.append({**coverage_precision(s, m, top_fraction), **relevance_mass(s, m), **dice(s, m, threshold)})
        fold = {k: float(np.nanmean([r[k] for r in rows])) for k in (rows[0] if rows else {})}
        per_fold.append({"repeat": rec["repeat"], "fold": rec["fold"], "n_slides": len(rows), **fold})
    names = sorted({k for f in per_fold for k in f} - {"repeat", "fold", "n_slides"})
    stats = {k: _mean_std([f.get(k) for f in per_fold]) for k in names}
    summary = dict(summary)
    summary["annotation"] = {"mean": {k: v[0] for k, v in stats.items()}, "std": {k: v[1] for k, v in stats.items()},
                             "per_fold": per_fold, "top_fraction": top_fraction, "threshold": threshold}
    write_results(out / "results.json", summary)
    return summary
