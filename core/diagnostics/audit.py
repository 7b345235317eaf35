"""Cohort audit: every diagnostic of this package over the slides of a manifest (Qt-free).

Per slide (:func:`audit_slide`): the methods' scores, drop/insert AUPC per method (xMIL protocol),
same-budget S/N/R per rule, the minimal-subset diagnostic per k and policy, the evidence sets and
the smallest sufficient-and-necessary subset (:mod:`core.diagnostics.evidence_sets`, guided by one
method's map), failure flags.
Over the cohort (:func:`summarise_audit`): AUPC mean ± std with Wilcoxon tests against random,
cohort S/N/R per rule (M = accuracy, or Harrell's C-index for survival; survival Φ per slide is
``sigmoid((risk − μ) / σ)`` with the cohort's full-bag risk mean μ and std σ), minimal-subset summary,
evidence-set summary, failure counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from core.diagnostics.artifact_detectors import ArtifactParts
from core.diagnostics.artifacts import SlideArtifactSource, artifact_share
from core.diagnostics.curves import keep_slide, slide_curves, summarise_curves
from core.diagnostics.evidence_search import SearchConfig, search_subset
from core.diagnostics.evidence_sets import evidence_sets
from core.diagnostics.failures import FailureThresholds, classify_failures, count_failures
from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.localisation_audit import slide_localisation, summarise_localisation
from core.diagnostics.minimal_subsets import (
    POLICIES,
    minimal_subsets,
    summarise_minimal,
)
from core.diagnostics.search_evaluators import make_evaluator
from core.diagnostics.snr import cohort_table, same_budget
from core.errors import EvidentError
from core.explain.registry import build_explainer, canonical_method
from core.models.access import MILModel, is_gce_model
from core.models.gce import GCEModel
from core.models.target_scale import TargetScale

__all__ = ["AuditConfig", "SlideAudit", "audit_slide", "build_explainers", "search_summary", "summarise_audit",
           "summarise_evidence_sets"]


@dataclass(frozen=True)
class AuditConfig:
    """Methods to score, the same-budget fraction, minimal-subset sizes and policies, failure thresholds,
    and the evidence search: ``search_guide`` (a method among ``methods``; ``None`` skips it) and its settings."""

    methods: tuple[str, ...] = ("attention", "gradient", "grad_input", "ig", "single", "leave_one_out", "lrp", "random")
    fraction: float = 0.05
    minimal_k: tuple[int, ...] = (8, 16, 32)
    policies: tuple[str, ...] = POLICIES
    thresholds: FailureThresholds = FailureThresholds()
    search_guide: str | None = None
    search: SearchConfig = SearchConfig()


@dataclass
class SlideAudit:
    """Everything measured on one slide."""

    slide_id: str
    label: int | float | None  # class index; regression: the target value (target units)
    predicted: int
    phi: float
    included: bool
    curves: dict = field(default_factory=dict)
    snr: dict = field(default_factory=dict)
    minimal: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    output: np.ndarray | None = None
    time: float | None = None  # survival follow-up time (survival cohorts only)
    event: int | None = None  # survival event indicator 0/1 (survival cohorts only)
    artifact_share: float | None = None  # share of the main evidence subset that is artifact (slide known)
    artifact_share_search: float | None = None  # the same for the search's S_N subset (searched, found, slide known)
    artifact_parts_share: dict = field(default_factory=dict)  # part (background, pen, fold, blur) -> its share of the main subset
    localisation: dict = field(default_factory=dict)  # method -> metrics, when the slide has annotations
    froc_inputs: dict = field(default_factory=dict)  # method -> (scores, truth, coords, patch_size), for FROC
    evidence_sets: dict = field(default_factory=dict)  # n_sets, sizes, stop_reason, sn_size (evidence search)
    value: float | None = None  # regression: the full bag's predicted value in target units

    def csv_row(self) -> dict:
        """Flat per-slide row for the CSV."""
        row = {"slide_id": self.slide_id, "label": "" if self.label is None else self.label, "predicted": self.predicted,
               "phi": round(self.phi, 6), "correct": "" if self.label is None else int(self.label == self.predicted),
               "included": int(self.included)}
        if self.value is not None:  # regression: predicted value (target units); no class to be correct
            row.update({"predicted": round(self.value, 6), "correct": ""})
        if self.time is not None:
            row.update({"time": self.time, "event": self.event})
        row["artifact_share"] = "" if self.artifact_share is None else round(self.artifact_share, 6)
        for name, v in self.artifact_parts_share.items():
            row[f"artifact_share_{name}"] = round(v, 6)
        if self.evidence_sets:
            row["artifact_share_search"] = "" if self.artifact_share_search is None else round(self.artifact_share_search, 6)
        for m, c in self.curves.items():
            row.update({f"aupc_drop_{m}": c["aupc_drop"], f"aupc_insert_{m}": c["aupc_insert"], f"gain_{m}": c["gain"]})
        for r, s in self.snr.items():
            row.update({f"keep_only_drop_{r}": s.keep_only_drop, f"complement_degradation_{r}": s.complement_degradation})
        for key, v in self.minimal.items():
            row[f"subsets_{key}"] = v["n_subsets"]
        if self.evidence_sets:
            e = self.evidence_sets
            row.update({"evidence_sets": e["n_sets"], "evidence_set_sizes": ";".join(map(str, e["sizes"])),
                        "evidence_sets_stop": e["stop_reason"], "sufficient_necessary_size": e["sn_size"] if e["sn_found"] else ""})
        row.update({f"fail_{k}": int(v) for k, v in self.failures.items()})
        for m, r in self.localisation.items():
            row.update({f"coverage_{m}": r["coverage"], f"precision_{m}": r["precision"],
                        f"relevance_mass_{m}": r["relevance_mass"], f"dice_{m}": r["dice"]})
        return row


def build_explainers(model: MILModel, methods) -> dict:
    """Explainers the model supports among ``methods`` (plus ``gce_gate`` and ``gce_subset`` for GCE)."""
    names = [canonical_method(m) for m in methods]
    if is_gce_model(model):
        names += [m for m in ("gce_gate", "gce_subset") if m not in names]
    out = {}
    for m in names:
        try:
            out[m] = build_explainer(m, model)
        except EvidentError:
            continue
    return out


def audit_slide(model: MILModel, explainers: dict, slide_id: str, features, coords, label: int | None,
                config: AuditConfig = AuditConfig(), risk_scale=(0.0, 1.0), truth: np.ndarray | None = None,
                patch_size: int | None = None, time: float | None = None, event: int | None = None,
                artifact_scores: np.ndarray | ArtifactParts | SlideArtifactSource | None = None,
                target_scale: TargetScale | None = None) -> SlideAudit:
    """All diagnostics of one bag (features (N, D), coords (N, 2)).

    The failure flags judge the main evidence subset: the GCE subset, else attention top-k, else
    the first other method's top-k, else random-k. ``artifact_scores`` ((N,) float in [0, 1], or the
    :class:`~core.diagnostics.artifact_detectors.ArtifactParts` whose ``combined`` it is, or a
    :class:`~core.diagnostics.artifacts.SlideArtifactSource` scored here for the judged subsets only; :mod:`core.diagnostics.artifacts`;
    with parts, each part's share of the main subset goes to ``artifact_parts_share``) feeds the ``artifact_evidence`` flag and, when the evidence search runs (``config.search_guide``),
    the same rule on its sufficient-and-necessary subset (``artifact_evidence_search``,
    :data:`core.diagnostics.failures.SEARCH_FLAG`).
    ``time``/``event`` (survival cohorts) are kept on the result for the cohort C-index.
    Regression: ``label`` is the target value, ``target_scale`` (the checkpoint's, default (0, 1))
    turns the output into ``value`` (target units); Φ and every drop stay in target-SD units.
    ``truth`` ((N,) bool, patches inside the slide's annotation) adds localisation per method
    (:mod:`core.diagnostics.localisation_audit`); ``patch_size`` (level-0 px) is then needed for FROC.
    """
    eng = InterventionEngine(model, features, coords, risk_scale=risk_scale)
    scores = {m: ex.attribute(features, coords) for m, ex in explainers.items()}
    curve_scores = {m: s for m, s in scores.items() if m != "gce_subset"}
    res = SlideAudit(slide_id, label, eng.predicted, eng.phi_before, keep_slide(eng, label), output=eng.output_before,
                     time=None if time is None else float(time), event=None if event is None else int(event))
    if eng.task == "regression":
        res.value = float((target_scale or TargetScale()).to_value(eng.output_before[0]))
    curves = slide_curves(eng, curve_scores)
    res.curves = {m: {k: v for k, v in c.items() if k not in ("drop", "insert")} for m, c in curves.items()}
    rules = ["random"] + [m for m in ("attention", "gradient", "ig", "single", "lrp") if m in scores]
    if "gce_subset" in scores and isinstance(model, GCEModel):
        rules.append("gce")
    res.snr = same_budget(model, features, coords, rules, config.fraction, scores=scores, engine=eng)
    if "attention" in scores:
        for k in config.minimal_k:
            for p in config.policies:
                r = minimal_subsets(eng, k, p)
                res.minimal[f"k{k}_{p}"] = {key: r[key] for key in ("n_subsets", "first_drop", "remove_union")}
    if config.search_guide is not None and config.search_guide in scores:
        res.evidence_sets = search_summary(eng, scores[config.search_guide], config.search)
    order = ["gce", "attention"] + [r for r in rules if r not in ("gce", "attention", "random")] + ["random"]
    main = next(res.snr[r] for r in order if r in res.snr)
    if isinstance(artifact_scores, SlideArtifactSource):  # score only the patches judged below
        judged = [main.indices]
        if res.evidence_sets and res.evidence_sets["sn_found"]:
            judged.append(res.evidence_sets["sn_indices"])
        artifact_scores = artifact_scores.parts(np.unique(np.concatenate(judged).astype(np.int64)))
    parts = artifact_scores if isinstance(artifact_scores, ArtifactParts) else None
    if parts is not None:
        artifact_scores = parts.combined
        res.artifact_parts_share = {name: artifact_share(main.indices, getattr(parts, name), config.thresholds.min_tissue)
                                    for name in parts._fields}
    kw = {"evidence": main.indices, "artifact_scores": artifact_scores}
    classes = {"predicted": eng.predicted, "n_classes": int(eng.output_before.shape[0])} if eng.task == "classification" else {}
    if artifact_scores is not None:
        res.artifact_share = artifact_share(main.indices, artifact_scores, config.thresholds.min_tissue)
    if res.evidence_sets:
        sn = res.evidence_sets["sn_indices"] if res.evidence_sets["sn_found"] else np.zeros(0, dtype=np.int64)
        kw["search_evidence"] = sn
        if artifact_scores is not None and sn.size:
            res.artifact_share_search = artifact_share(sn, artifact_scores, config.thresholds.min_tissue)
    if "gce_subset" in scores:
        with torch.no_grad():
            out = model(eng.x, eng.coords)
        kw.update({"responses": out.responses.cpu().double().numpy(), "class_weights": model.predicted_class_weights(out)})
    if truth is not None and np.asarray(truth).any():
        maps = {m: v for m, v in scores.items() if m != "gce_subset"}
        res.localisation = slide_localisation(maps, truth, config.fraction)
        res.froc_inputs = {m: (v, np.asarray(truth, dtype=bool), np.asarray(coords), int(patch_size)) for m, v in maps.items()}
    res.failures = classify_failures(correct=None if label is None or eng.task != "classification" else label == eng.predicted,
                                     keep_only_drop=main.keep_only_drop, complement_degradation=main.complement_degradation,
                                     thresholds=config.thresholds, **kw, **classes)
    return res


def search_summary(engine: InterventionEngine, guide: np.ndarray, config: SearchConfig) -> dict:
    """One slide's evidence sets and sufficient-and-necessary subset, as plain numbers (and
    ``sn_indices``, (K,) int64 the subset, for the artifact rule)."""
    ev = make_evaluator(engine, config.path)
    sets = evidence_sets(engine, guide, config, evaluator=ev)
    sn = search_subset(engine, guide, config, evaluator=ev)
    return {"n_sets": len(sets.sets), "sizes": sets.sizes, "stop_reason": sets.stop_reason,
            "sn_found": sn.found, "sn_size": int(sn.indices.size), "sn_stop_reason": sn.stop_reason,
            "sn_indices": np.asarray(sn.indices, dtype=np.int64)}


def summarise_evidence_sets(per_slide: list[dict]) -> dict:
    """Cohort: slides searched, mean sets per slide, % slides with ≥ 2 / ≥ 3 sets, mean set size,
    % slides with a sufficient-and-necessary subset and its mean size."""
    n = np.array([s["n_sets"] for s in per_slide], dtype=np.float64)
    sizes = [z for s in per_slide for z in s["sizes"]]
    sn = [s["sn_size"] for s in per_slide if s["sn_found"]]
    nan = float("nan")
    return {"slides": len(per_slide), "mean_sets": float(n.mean()) if n.size else nan,
            "pct_ge2": float(100 * np.mean(n >= 2)) if n.size else nan, "pct_ge3": float(100 * np.mean(n >= 3)) if n.size else nan,
            "mean_set_size": float(np.mean(sizes)) if sizes else nan,
            "pct_sufficient_necessary": float(100 * len(sn) / len(per_slide)) if per_slide else nan,
            "mean_sufficient_necessary_size": float(np.mean(sn)) if sn else nan}


def summarise_audit(slides: list[SlideAudit], task: str) -> dict:
    """Cohort JSON: ``aupc`` (included slides only), ``snr``, ``minimal``, ``failures``, counts.

    The cohort S/N/R table uses M = accuracy for classification, M = Harrell's C-index for
    survival (every slide's ``time`` and ``event`` must then be set, else :class:`EvidentError`) and
    M = Spearman's ρ for regression (every slide's ``label`` must then be its target value).
    """
    inc = [s for s in slides if s.included]
    if task == "classification":
        labels = [s.label if s.label is not None else s.predicted for s in slides]
        snr = cohort_table([s.snr for s in slides], task, labels=labels)
    elif task == "regression":  # M = Spearman ρ of predicted values and the manifest's targets
        missing = [s.slide_id for s in slides if s.label is None]
        if missing:
            raise EvidentError(None, f"regression audit needs a numeric label for every slide; missing for {missing[:3]}")
        snr = cohort_table([s.snr for s in slides], task, labels=[float(s.label) for s in slides])
    elif task == "survival":
        missing = [s.slide_id for s in slides if s.time is None or s.event is None]
        if missing:
            raise EvidentError(None, f"survival audit needs time and event for every slide; missing for {missing[:3]}")
        snr = cohort_table([s.snr for s in slides], task, time=[s.time for s in slides], event=[s.event for s in slides])
    else:
        snr = {}
    minimal = {}
    keys = sorted({k for s in slides for k in s.minimal})
    for k in keys:
        minimal[k] = summarise_minimal([s.minimal[k] for s in slides if k in s.minimal])
    out = {"n_slides": len(slides), "n_included": len(inc), "aupc": summarise_curves([s.curves for s in inc]),
           "snr": snr, "minimal": minimal, "failures": count_failures([s.failures for s in slides])}
    searched = [s.evidence_sets for s in slides if s.evidence_sets]
    if searched:
        out["evidence_sets"] = summarise_evidence_sets(searched)
    annotated = [s for s in slides if s.localisation]
    if annotated:
        froc_inputs: dict = {}
        for s in annotated:
            for m, item in s.froc_inputs.items():
                froc_inputs.setdefault(m, []).append(item)
        out["localisation"] = summarise_localisation([s.localisation for s in annotated], froc_inputs)
    return out
