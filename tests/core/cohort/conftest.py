"""Cohort fixtures: a tiny demo cohort (4 virtual slides of 8 x 8 real-tissue cells) with evidence files made
from its truth; a report project on the real CMU slide (features, an evidence file with a prediction, S/N
numbers for the GCE subset and ensemble maps, annotations and a manifest whose truth differs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.demo.cohort import CohortConfig, build_cohort
from testkit.heatmaps import write_demo_evidence

TINY = CohortConfig(n_slides=4, grid=(8, 8), seed=3)


@pytest.fixture(scope="session")
def demo_cohort(cmu_slide, tmp_path_factory):
    """The cohort (:class:`core.demo.cohort.DemoCohort`) and ``{slide_id: evidence path}``."""
    root = tmp_path_factory.mktemp("heatmaps_cohort")
    cohort = build_cohort(root / "cohort", TINY, source=cmu_slide, progress=False)
    evidence = write_demo_evidence(cohort.truth, root / "evidence")
    return cohort, evidence



@pytest.fixture(scope="session")
def report_project(cmu_slide, tmp_path_factory):
    from dataclasses import replace

    from core.evidence.evidence_file import read_evidence, write_evidence
    from core.review.demo import write_demo_project

    root = tmp_path_factory.mktemp("report_project")
    paths = write_demo_project(cmu_slide, root)
    ev = read_evidence(paths["evidence"])
    rng = np.random.default_rng(3)
    att = np.asarray(ev.scores["attention"], dtype=np.float64)
    std = np.abs(rng.normal(size=ev.n_patches)) * att.std()
    members = json.dumps(["run/fold_0_1", "run/fold_0_2", "run/fold_0_3"])
    common = {"members": members, "n_members": 3, "out_of_fold": 1, "ensemble_method": "attention", "target": 1,
              "rank_agreement": 0.71}
    ev = replace(ev, probs=np.array([0.2, 0.8], np.float32), predicted_class=1,
                 snr={"gce": {"keep_only_drop": 0.3, "complement_degradation": 0.01, "cd_gap": 0.02}},
                 scores={**ev.scores, "attention_ensemble_mean": att, "attention_ensemble_std": std},
                 score_attrs={"attention_ensemble_mean": {**common, "ensemble_statistic": "mean"},
                              "attention_ensemble_std": {**common, "ensemble_statistic": "std"}})
    write_evidence(paths["evidence"], ev)
    (root / "manifest.csv").write_text(f"slide_id,label,slide_path\n{ev.slide_id},benign,{cmu_slide}\n")
    return {**paths, "root": root, "manifest": root / "manifest.csv", "slide_id": ev.slide_id}
