"""What one slide's evidence report says, gathered from its evidence file (docs/reports.md).

:func:`slide_report` reads ``<slide>.evidence.h5`` (:mod:`core.evidence.evidence_file`) and, when
given, the slide file, the truth label and the region annotations, and returns a
:class:`SlideReport`: prediction and truth; one overview picture per map
(:mod:`core.cohort.report_images`); the S/N/R numbers of every subset (``/snr/*``, as
``evident recover`` / ``explain --evidence-sets`` wrote them, :mod:`core.diagnostics.snr`); the
failure flags of :func:`core.diagnostics.failures.classify_failures` each with the reason (or why it
was not judged); the top-k patches of the primary map; and localisation against the annotations
(:mod:`core.diagnostics.localisation`: top-5 % coverage and precision, relevance mass, each with
its chance level; not for the ensembles' spread maps, which say where models disagree).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from core.cohort.report_images import colorbar_png, map_overview, overview_base, png_bytes, tile_pngs
from core.diagnostics.artifact_detectors import ArtifactParts
from core.diagnostics.artifacts import artifact_share, slide_artifact_parts
from core.diagnostics.failures import FLAGS, FailureThresholds, classify_failures, necessity_applies
from core.diagnostics.localisation import coverage_precision, relevance_mass
from core.errors import EvidentError
from core.evidence.evidence_file import Evidence, read_evidence
from core.review.layer_roles import ENSEMBLE_SUFFIXES, SPREAD_SUFFIXES, primary_map
from core.review.layers import scalar_layer
from core.review.loading import map_units
from core.train.annotation_masks import infer_patch_size

__all__ = ["EVIDENCE_SUBSETS", "MapPicture", "SlideReport", "TopTile", "slide_report"]

#: The subset whose S/N numbers judge sufficiency and necessity, in order of preference.
EVIDENCE_SUBSETS = ("recovered", "gce", "sufficient_necessary", "evidence_set_1", "attention_topk")
TOP_FRACTION = 0.05  # localisation: the top 5 % of a map's patches


@dataclass(frozen=True, eq=False)
class MapPicture:
    """One map: ``png`` (overview), ``colorbar`` (PNG), the colormap and normalisation in words,
    the raw range ``lo``..``hi`` and the map's stored attributes (e.g. an ensemble's members)."""

    name: str
    units: str
    png: bytes
    colorbar: bytes
    colormap: str
    normalisation: str
    lo: float
    hi: float
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class TopTile:
    """A top-k patch: its index, level-0 corner (x, y), score and picture (``None`` without a slide)."""

    index: int
    x: int
    y: int
    score: float
    png: bytes | None


@dataclass(frozen=True, eq=False)
class SlideReport:
    """Everything a slide's report shows (the HTML: :mod:`core.cohort.report_html`).

    ``snr``: ``[(subset, size, {number: value})]``; ``flags``: ``[(flag, raised or None when not
    judged, why)]``; ``localisation``: one dict per map (numbers with their chance levels);
    ``notes``: what is missing and why.
    """

    slide_id: str
    evidence_path: str
    task: str
    prediction: str
    truth: str | None
    correct: bool | None
    n_patches: int
    patch_size: int
    maps: list[MapPicture]
    snr: list[tuple[str, int, dict]]
    flags: list[tuple[str, bool | None, str]]
    top_map: str | None
    top_tiles: list[TopTile]
    localisation: list[dict]
    annotated_fraction: float | None
    notes: list[str]
    slide_path: str | None = None


def _prediction(ev: Evidence) -> tuple[str, str | None]:
    """(text, predicted class name or None)."""
    if ev.task == "classification" and ev.predicted_class >= 0:
        k = int(ev.predicted_class)
        name = ev.classes[k] if k < len(ev.classes) else str(k)
        probs = None if ev.probs is None else np.asarray(ev.probs).reshape(-1)
        return (f"{name} (p = {float(probs[k]):.3f})" if probs is not None and k < probs.size else name), name
    if ev.risk is not None:
        return f"risk {float(np.asarray(ev.risk).reshape(-1)[0]):.3f}", None
    return "no prediction stored", None


def _f3(v: float) -> str:
    """Three decimals, without a "-0.000" for a tiny negative."""
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text


def _map_order(name: str) -> tuple[int, str, int]:
    """Sort key: the single-model maps first (by name), then each ensemble's mean, std, rank spread."""
    for i, suffix in enumerate(ENSEMBLE_SUFFIXES):
        if name.endswith(suffix):
            return 1, name[: -len(suffix)], i
    return 0, name, 0


def _evidence_subset(ev: Evidence) -> str | None:
    """The subset the flags judge: the first of :data:`EVIDENCE_SUBSETS` with S/N numbers, else any
    subset with numbers, else the first of :data:`EVIDENCE_SUBSETS` held, else any subset."""
    for ok in (lambda n: n in ev.snr, lambda n: True):
        named = [n for n in EVIDENCE_SUBSETS if n in ev.subsets and ok(n)]
        if named:
            return named[0]
        other = next((n for n in ev.subsets if ok(n)), None)
        if other is not None:
            return other
    return None


def _flags(ev: Evidence, truth: str | None, predicted: str | None, parts: ArtifactParts | None,
           t: FailureThresholds) -> list[tuple[str, bool | None, str]]:
    artifacts = None if parts is None else parts.combined
    sub = _evidence_subset(ev)
    nums = ev.snr.get(sub, {}) if sub else {}
    idx = ev.subsets[sub].indices if sub else None
    n_classes = len(ev.classes) if ev.task == "classification" and ev.classes else None
    pred_idx = int(ev.predicted_class) if n_classes else None
    correct = None if truth is None or predicted is None else truth == predicted
    raised = classify_failures(correct=correct, keep_only_drop=nums.get("keep_only_drop"),
                               complement_degradation=nums.get("complement_degradation"), evidence=idx,
                               artifact_scores=artifacts, predicted=pred_idx, n_classes=n_classes, thresholds=t)
    on = f" on subset '{sub}' ({idx.size} patches)" if sub else ""
    out: list[tuple[str, bool | None, str]] = []
    if correct is None:
        out.append(("case_failure", None, "not judged: no truth label (manifest) for this slide" if predicted
                    else "not judged: no class prediction or no truth label"))
    else:
        out.append(("case_failure", raised["case_failure"], f"predicted {predicted}, truth {truth}"))
    if artifacts is None or idx is None:
        out.append(("artifact_evidence", None, "not judged: needs the slide file (tissue mask) and an evidence subset"))
    else:
        share = artifact_share(idx, artifacts, t.min_tissue)
        kinds = ", ".join(f"{name} {100 * artifact_share(idx, getattr(parts, name), t.min_tissue):.0f} %"
                          for name in parts._fields)
        out.append(("artifact_evidence", raised["artifact_evidence"],
                    f"{100 * share:.0f} % of the evidence{on} is artifact, score > {1 - t.min_tissue:g} ({kinds}; "
                    f"background = tissue fraction < {t.min_tissue:g}) (flag above {100 * t.artifact_share:.0f} %)"))
    kod = nums.get("keep_only_drop")
    if kod is None or not np.isfinite(kod):
        out.append(("low_sufficiency", None, "not judged: no keep-only drop stored (/snr) for an evidence subset"))
    else:
        out.append(("low_sufficiency", raised["low_sufficiency"],
                    f"keep-only drop {_f3(kod)}{on} ({'>' if kod > t.keep_only_drop else '≤'} {t.keep_only_drop:g})"))
    cd = nums.get("complement_degradation")
    if cd is None or not np.isfinite(cd):
        out.append(("low_necessity", None, "not judged: no complement degradation stored (/snr) for an evidence subset"))
    elif not necessity_applies(pred_idx, n_classes, t.necessity_classes):
        out.append(("low_necessity", None, "not judged: predicted the negative class of a binary model "
                                           "(no evidence to remove)"))
    else:
        out.append(("low_necessity", raised["low_necessity"],
                    f"complement degradation {_f3(cd)}{on} ({'<' if cd < t.complement_degradation else '≥'} "
                    f"{t.complement_degradation:g})"))
    out.append(("semantic_mismatch", None, "not judged here: needs the model's anchor weights (evident audit)"))
    judged = [r for _, r, _ in out if r]
    out.append(("severe", len(judged) >= 2, f"{len(judged)} flag(s) raised (severe: two or more)"))
    assert [f for f, _, _ in out] == list(FLAGS)
    return out


def slide_report(evidence_path: str | os.PathLike, *, truth: str | None = None, slide_path: str | os.PathLike | None = None,
                 annotations: str | os.PathLike | None = None, top_k: int = 8, maps: tuple[str, ...] | None = None,
                 thresholds: FailureThresholds | None = None, max_side: int = 360) -> SlideReport:
    """Gather one slide's report.

    Parameters
    ----------
    truth
        The slide's true class name (manifest ``label``), or ``None``.
    slide_path
        The slide file: overviews over the tissue, top-k tiles, tissue fraction for the artifact
        flag. ``None``: overviews on a grey canvas, no tiles.
    annotations
        A GeoJSON (or ASAP XML) of region annotations in level-0 px: outlines and localisation.
    maps
        The maps to show (``None``: every ``/scores`` entry and the gates).
    thresholds
        Failure-flag thresholds (``None``: the defaults of :class:`FailureThresholds`).

    Raises
    ------
    EvidentError
        Unreadable evidence, slide or annotation file; a requested map the file does not hold.
    """
    ev = read_evidence(evidence_path)
    thresholds = thresholds or FailureThresholds()
    notes: list[str] = []
    size = infer_patch_size(ev.coords)
    if size is None:
        raise EvidentError(evidence_path, "one patch only: the patch size cannot be inferred")
    values = {k: np.asarray(v, dtype=np.float64) for k, v in ev.scores.items()}
    if ev.gates is not None and "gate" not in values:
        values["gate"] = np.asarray(ev.gates, dtype=np.float64)
    if maps is not None:
        missing = [m for m in maps if m not in values]
        if missing:
            raise EvidentError(evidence_path, f"holds no map {', '.join(missing)} (it holds: {', '.join(values) or 'none'})")
        values = {m: values[m] for m in maps}
    values = dict(sorted(values.items(), key=lambda kv: _map_order(kv[0])))
    geoms = []
    if annotations is not None:
        from core.data.annotations import read_annotations  # local: shapely only when used

        geoms = [a.geometry for a in read_annotations(annotations)]
    reader = None
    if slide_path is not None:
        from core.slide.reader import open_slide  # local: OpenSlide only when used

        reader = open_slide(slide_path)
    else:
        notes.append("no slide file given: the maps are drawn on a grey canvas and the top patches are not shown")
    try:
        base = overview_base(ev.coords, size, reader=reader, max_side=max_side)
        pictures = []
        for name, v in values.items():
            rgb, cmap, how = map_overview(base, ev.coords, size, name, v, annotations=geoms)
            ok = v[np.isfinite(v)]
            pictures.append(MapPicture(name, map_units(name), png_bytes(rgb), colorbar_png(cmap), cmap, how,
                                       float(ok.min()) if ok.size else float("nan"),
                                       float(ok.max()) if ok.size else float("nan"), dict(ev.score_attrs.get(name, {}))))
        top_map = primary_map([scalar_layer(n, v) for n, v in values.items()], ev.gates is not None)
        tiles: list[TopTile] = []
        if top_map is not None and top_k > 0:
            v = values[top_map]
            order = np.argsort(-np.where(np.isfinite(v), v, -np.inf), kind="stable")[:top_k]
            pngs = tile_pngs(reader, ev.coords, size, order) if reader is not None else [None] * order.size
            tiles = [TopTile(int(i), int(ev.coords[i, 0]), int(ev.coords[i, 1]), float(v[i]), p)
                     for i, p in zip(order, pngs, strict=True)]
        sub = _evidence_subset(ev)  # the subset _flags judges: only its patches are scored
        judged = ev.subsets[sub].indices if sub else np.zeros(0, dtype=np.int64)
        artifacts = (slide_artifact_parts(slide_path, ev.coords, size, only=judged)
                     if slide_path is not None else None)
    finally:
        if reader is not None:
            reader.close()
    text, predicted = _prediction(ev)
    loc, frac = [], None
    if annotations is not None:
        from core.data.annotations import patch_labels  # local: shapely only when used

        mask = patch_labels(ev.coords, size, geoms, 0.01)
        frac = float(mask.mean())
        if mask.any():
            for name, v in values.items():
                if name.endswith(SPREAD_SUFFIXES):  # a spread says where models disagree, not where the evidence is
                    continue
                loc.append({"map": name, **coverage_precision(v, mask, TOP_FRACTION), **relevance_mass(v, mask)})
        else:
            notes.append("the annotations cover none of the patches: no localisation numbers")
    snr = [(n, int(ev.subsets[n].indices.size) if n in ev.subsets else 0, dict(ev.snr[n])) for n in ev.snr]
    if not snr:
        notes.append("the evidence file holds no S/N/R numbers (run evident recover, or explain --evidence-sets)")
    return SlideReport(
        slide_id=ev.slide_id, evidence_path=str(evidence_path), task=ev.task, prediction=text, truth=truth,
        correct=None if truth is None or predicted is None else truth == predicted, n_patches=ev.n_patches,
        patch_size=int(size), maps=pictures, snr=snr, flags=_flags(ev, truth, predicted, artifacts, thresholds),
        top_map=top_map, top_tiles=tiles, localisation=loc, annotated_fraction=frac, notes=notes,
        slide_path=None if slide_path is None else str(slide_path))
