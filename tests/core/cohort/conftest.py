"""A tiny demo cohort (4 virtual slides of 8 x 8 real-tissue cells) with evidence files made from its truth."""

from __future__ import annotations

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

