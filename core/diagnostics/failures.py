"""Failure taxonomy per slide (method.md §5, paper Appendix I).

Flags: ``case_failure`` (full-bag prediction wrong), ``artifact_evidence`` (mean artifact score of
the selected patches above a threshold; the score per patch comes from the caller, e.g. 1 − tissue
fraction), ``low_sufficiency`` (keep-only drop above a threshold), ``low_necessity`` (complement
degradation below a threshold), ``semantic_mismatch`` (the selected patches' most frequent best
anchor is not among the predicted class's top-weighted anchors); ``severe`` = two or more flags.
Missing inputs leave their flag False.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FLAGS", "FailureThresholds", "classify_failures", "count_failures"]

FLAGS = ("case_failure", "artifact_evidence", "low_sufficiency", "low_necessity", "semantic_mismatch", "severe")


@dataclass(frozen=True)
class FailureThresholds:
    """Configurable thresholds: artifact score, keep-only drop, complement degradation, top anchors."""

    artifact: float = 0.5
    keep_only_drop: float = 0.1
    complement_degradation: float = 0.05
    top_anchors: int = 3


def classify_failures(*, correct: bool | None, keep_only_drop: float | None = None,
                      complement_degradation: float | None = None, evidence=None, artifact_scores=None,
                      responses=None, class_weights=None, thresholds: FailureThresholds = FailureThresholds()) -> dict[str, bool]:
    """Flags of one slide.

    Parameters
    ----------
    evidence
        (K,) int selected patches. artifact_scores: (N,) float in [0, 1] per patch.
    responses
        (N, M) anchor responses; class_weights: (M,) the predicted class's anchor weights α.
    """
    t = thresholds
    idx = None if evidence is None else np.asarray(evidence, dtype=np.int64)
    flags = {f: False for f in FLAGS}
    flags["case_failure"] = correct is False
    if idx is not None and idx.size and artifact_scores is not None:
        flags["artifact_evidence"] = bool(np.mean(np.asarray(artifact_scores)[idx]) > t.artifact)
    if keep_only_drop is not None and np.isfinite(keep_only_drop):
        flags["low_sufficiency"] = bool(keep_only_drop > t.keep_only_drop)
    if complement_degradation is not None and np.isfinite(complement_degradation):
        flags["low_necessity"] = bool(complement_degradation < t.complement_degradation)
    if idx is not None and idx.size and responses is not None and class_weights is not None:
        best = np.asarray(responses)[idx].argmax(axis=1)  # (K,)
        dominant = int(np.bincount(best).argmax())
        top = np.argsort(-np.asarray(class_weights), kind="stable")[: t.top_anchors]
        flags["semantic_mismatch"] = dominant not in set(top.tolist())
    flags["severe"] = sum(flags[f] for f in FLAGS[:-1]) >= 2
    return flags


def count_failures(per_slide: list[dict[str, bool]]) -> dict[str, int]:
    """Number of slides with each flag."""
    return {f: int(sum(bool(s.get(f)) for s in per_slide)) for f in FLAGS}
