"""Failure taxonomy per slide (docs/method.md §5, paper Appendix I).

Flags: ``case_failure`` (full-bag prediction wrong), ``artifact_evidence`` (more than
``artifact_share`` of the selected patches are artifact, i.e. their artifact score exceeds
``1 − min_tissue``; the per-patch score -- the maximum of ``1 − tissue fraction`` and the pen, fold
and blur detectors -- comes from the caller, see :mod:`core.diagnostics.artifacts`), ``low_sufficiency`` (keep-only drop above a threshold), ``low_necessity`` (complement
degradation below a threshold), ``semantic_mismatch`` (the selected patches' most frequent best
anchor is not among the predicted class's top-weighted anchors); ``severe`` = two or more flags.
Missing inputs leave their flag False.

``artifact_evidence_search`` (:data:`SEARCH_FLAG`; only when the caller ran the intervention
search and passes its sufficient-and-necessary subset as ``search_evidence``): the same artifact
rule on that subset. It is reported beside the others but not counted in ``severe`` (it judges the
same artifact question on another subset). On the attention-failure benchmark's shortcut bags the
main subset's rule missed pen marks that the search's subset holds (docs/results_explain.md §9).

**[decision]** Low necessity is judged only where evidence is expected (``necessity_classes``).
Default ``"default"``: a slide predicted as the negative class 0 of a *binary* classifier is never
flagged "low N" -- a negative slide has no evidence to remove, so a small complement degradation is
what a right model shows, not a failure; every other class, every class of a multi-class model and
every survival slide is judged. ``"all"`` judges every class; a tuple of class indices judges only those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.diagnostics.artifacts import artifact_share

__all__ = ["FLAGS", "SEARCH_FLAG", "FailureThresholds", "classify_failures", "count_failures", "necessity_applies"]

FLAGS = ("case_failure", "artifact_evidence", "low_sufficiency", "low_necessity", "semantic_mismatch", "severe")
SEARCH_FLAG = "artifact_evidence_search"


@dataclass(frozen=True)
class FailureThresholds:
    """Configurable thresholds.

    ``min_tissue``: a selected patch whose artifact score exceeds ``1 − min_tissue`` is artifact (for
    the background part: a smaller tissue fraction); ``artifact_share``:
    the flag needs more than this share of artifact patches in the evidence; then keep-only drop,
    complement degradation and the number of top anchors. ``necessity_classes``: ``"default"``,
    ``"all"`` or a tuple of class indices whose slides get the low-necessity flag (module docstring).
    """

    min_tissue: float = 0.5
    artifact_share: float = 0.5
    keep_only_drop: float = 0.1
    complement_degradation: float = 0.05
    top_anchors: int = 3
    necessity_classes: str | tuple[int, ...] = "default"


def necessity_applies(predicted: int | None, n_classes: int | None, necessity_classes: str | tuple[int, ...] = "default") -> bool:
    """Whether a slide predicted as ``predicted`` (of ``n_classes``; ``None``: not a classifier) is judged for low N."""
    if predicted is None or n_classes is None or necessity_classes == "all":
        return True
    if necessity_classes == "default":
        return not (n_classes == 2 and int(predicted) == 0)
    if isinstance(necessity_classes, str):
        raise ValueError(f"necessity_classes must be 'default', 'all' or class indices, got {necessity_classes!r}")
    return int(predicted) in {int(c) for c in necessity_classes}


def classify_failures(*, correct: bool | None, keep_only_drop: float | None = None,
                      complement_degradation: float | None = None, evidence=None, artifact_scores=None,
                      responses=None, class_weights=None, predicted: int | None = None, n_classes: int | None = None,
                      thresholds: FailureThresholds = FailureThresholds(), search_evidence=None) -> dict[str, bool]:
    """Flags of one slide.

    Parameters
    ----------
    predicted, n_classes
        The full bag's predicted class and the number of classes (classifiers only; ``None`` for
        survival): with ``thresholds.necessity_classes`` they decide whether low N is judged.
    evidence
        (K,) int selected patches. artifact_scores: (N,) float in [0, 1] per patch (:func:`core.diagnostics.artifacts.slide_artifact_scores`).
    responses
        (N, M) anchor responses; class_weights: (M,) the predicted class's anchor weights α.
    search_evidence
        (K,) int the intervention search's sufficient-and-necessary subset (empty when none was
        found); given, the result also holds :data:`SEARCH_FLAG`.
    """
    t = thresholds
    idx = None if evidence is None else np.asarray(evidence, dtype=np.int64)
    flags = {f: False for f in FLAGS}
    flags["case_failure"] = correct is False
    if idx is not None and idx.size and artifact_scores is not None:
        flags["artifact_evidence"] = bool(artifact_share(idx, artifact_scores, t.min_tissue) > t.artifact_share)
    if keep_only_drop is not None and np.isfinite(keep_only_drop):
        flags["low_sufficiency"] = bool(keep_only_drop > t.keep_only_drop)
    if (complement_degradation is not None and np.isfinite(complement_degradation)
            and necessity_applies(predicted, n_classes, t.necessity_classes)):
        flags["low_necessity"] = bool(complement_degradation < t.complement_degradation)
    if idx is not None and idx.size and responses is not None and class_weights is not None:
        best = np.asarray(responses)[idx].argmax(axis=1)  # (K,)
        dominant = int(np.bincount(best).argmax())
        top = np.argsort(-np.asarray(class_weights), kind="stable")[: t.top_anchors]
        flags["semantic_mismatch"] = dominant not in set(top.tolist())
    flags["severe"] = sum(flags[f] for f in FLAGS[:-1]) >= 2
    if search_evidence is not None:
        sidx = np.asarray(search_evidence, dtype=np.int64).reshape(-1)
        flags[SEARCH_FLAG] = bool(sidx.size and artifact_scores is not None
                                  and artifact_share(sidx, artifact_scores, t.min_tissue) > t.artifact_share)
    return flags


def count_failures(per_slide: list[dict[str, bool]]) -> dict[str, int]:
    """Number of slides with each flag (:data:`SEARCH_FLAG` too when any slide has it)."""
    names = FLAGS + ((SEARCH_FLAG,) if any(SEARCH_FLAG in s for s in per_slide) else ())
    return {f: int(sum(bool(s.get(f)) for s in per_slide)) for f in names}
