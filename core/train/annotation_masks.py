"""Per-slide patch masks from region annotations, and the held-out annotation metrics of a run.

``ANNOTATIONS/<slide_id>.geojson`` (QuPath GeoJSON) -> (N,) bool mask over the slide's patches in
bag order: a patch is inside when ≥ 1 % of its area overlaps an annotated polygon
(:func:`core.data.annotations.patch_labels`, docs/explanations.md §3). Slides without a file get no
mask (no explanation loss, no annotation metrics). Masks are cached in memory per run, keyed by
slide, the file's mtime and a digest of the coordinates.

The patch side (level 0) is ``patch_size`` when given, else inferred from the coordinates as the
smallest positive step between patch corners.

Evidence classes (``evident train --evidence-classes``, docs/annotate.md "Training with annotations"):
by default every annotated region is evidence; :func:`evidence_classes` picks the regions of some
classes only (QuPath's ``properties.classification.name``, or the older layouts
:func:`core.data.annotations.parse_feature` reads), e.g. ``Tumor`` but not ``Stroma`` or ``Ignore*``.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.diagnostics.localisation import coverage_precision, dice, relevance_mass
from core.errors import EvidentError
from core.train.report import write_results

__all__ = [
    "DICE_THRESHOLD",
    "EvidenceClasses",
    "TOP_FRACTION",
    "add_annotation_metrics",
    "annotation_masks",
    "annotation_scores",
    "evidence_classes",
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


def _annotation_files(bags: Sequence, annotations_dir: str | os.PathLike) -> tuple[Path, dict[str, Path]]:
    """(the folder, slide_id -> its ``<slide_id>.geojson``) for the bags that have one."""
    root = Path(annotations_dir)
    if not root.is_dir():
        raise EvidentError(root, "is not a folder of <slide_id>.geojson annotations")
    return root, {b.slide_id: root / f"{b.slide_id}.geojson" for b in bags
                  if (root / f"{b.slide_id}.geojson").is_file()}


def annotation_masks(bags: Sequence, annotations_dir: str | os.PathLike, patch_size: int | None = None,
                     min_overlap: float = 0.01,
                     transform: Callable | None = None, require_any: bool = True,
                     classes: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """slide_id -> (N,) bool patch mask for every bag with ``<slide_id>.geojson`` in ``annotations_dir``.

    ``require_any=False`` returns an empty dict instead of raising when no bag has an annotation
    (callers that combine several groups of bags check the union themselves).

    Parameters
    ----------
    bags
        Objects with ``slide_id`` and ``coords`` ((N, 2) int tensor or array).
    transform
        Optional geometry -> geometry map (noisy-annotation experiments); not cached.
    classes
        Only regions of these class names count (unclassified regions do not); ``None``: every region
        (:attr:`EvidenceClasses.selected`).

    Raises
    ------
    EvidentError
        ``annotations_dir`` is not a folder, a file cannot be read, or no slide has an annotation.
    """
    from core.data.annotations import patch_labels, read_geojson  # local: pulls in shapely

    root, files = _annotation_files(bags, annotations_dir)
    wanted = None if classes is None else frozenset(classes)
    out = {}
    for b in bags:
        p = files.get(b.slide_id)
        if p is None:
            continue
        coords = np.asarray(b.coords, dtype=np.int64)
        size = patch_size or infer_patch_size(coords)
        if size is None:
            raise EvidentError(p, "cannot infer the patch size from a one-patch bag; pass --patch-size")
        key = (b.slide_id, str(p.resolve()), p.stat().st_mtime_ns, size, min_overlap,
               hashlib.sha256(coords.tobytes()).hexdigest(), None if wanted is None else tuple(sorted(wanted)))
        if transform is None and key in _CACHE:
            out[b.slide_id] = _CACHE[key]
            continue
        geoms = [a.geometry for a in read_geojson(p) if wanted is None or a.classification in wanted]
        if transform is not None:
            geoms = [transform(g) for g in geoms]
        mask = patch_labels(coords, size, geoms, min_overlap)
        if transform is None:
            _CACHE[key] = mask
        out[b.slide_id] = mask
    if not out and require_any:
        raise EvidentError(root, "holds no <slide_id>.geojson for any slide of the cohort")
    return out


@dataclass(frozen=True)
class EvidenceClasses:
    """Which annotated regions are evidence.

    Attributes
    ----------
    found
        Class name -> number of regions of that class over the cohort's annotation files.
    unclassified
        Number of regions without a class.
    selected
        The class names asked for (``None``: every region, classified or not, is evidence).
    """

    found: dict[str, int]
    unclassified: int
    selected: tuple[str, ...] | None

    @property
    def used(self) -> list[str]:
        """The class names whose regions are evidence, sorted."""
        return sorted(self.found if self.selected is None else self.selected)

    def to_config(self) -> dict:
        """Entries for the run's ``config.json``: ``evidence_classes`` (the names used),
        ``unclassified_evidence`` (whether regions without a class count)."""
        return {"evidence_classes": self.used,
                "unclassified_evidence": self.selected is None and self.unclassified > 0}

    def describe(self) -> str:
        """One line: the classes used as evidence, and those not used."""
        used = ", ".join(self.used) or "none"
        if self.selected is None and self.unclassified:
            used += f" and {self.unclassified} unclassified region(s)"
        rest = sorted(set(self.found) - set(self.used))
        if self.selected is not None and self.unclassified:
            rest.append(f"{self.unclassified} unclassified region(s)")
        return f"evidence classes: {used}" + (f"; not evidence: {', '.join(rest)}" if rest else "")


def evidence_classes(bags: Sequence, annotations_dir: str | os.PathLike,
                     names: Sequence[str] | None = None) -> EvidenceClasses:
    """Count the annotation classes of the cohort's ``<slide_id>.geojson`` files and check ``names``.

    Parameters
    ----------
    names
        The evidence classes asked for (``--evidence-classes``); ``None``: every region.

    Raises
    ------
    EvidentError
        ``annotations_dir`` is not a folder, a file cannot be read, or a name in ``names`` is no
        class of any file (the message names the folder and lists the classes found).
    """
    from core.data.annotations import read_geojson  # local: pulls in shapely

    root, files = _annotation_files(bags, annotations_dir)
    counts: Counter = Counter(a.classification for p in files.values() for a in read_geojson(p))
    unclassified = counts.pop(None, 0)
    found = dict(sorted(counts.items()))
    if names is not None:
        names = tuple(dict.fromkeys(names))
        unknown = [n for n in names if n not in found]
        if unknown or not names:
            listed = ", ".join(f"{k} ({v})" for k, v in found.items()) or "none"
            raise EvidentError(root, f"no annotation of class {', '.join(map(repr, unknown)) or '(empty list)'} "
                                     f"in the cohort's {len(files)} annotation file(s); classes found (regions): "
                                     f"{listed}" + (f", plus {unclassified} unclassified" if unclassified else ""))
    return EvidenceClasses(found=found, unclassified=int(unclassified), selected=names)


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
