"""End to end: the demo pipeline on a small cohort (slow: trains and explains for real)."""

from __future__ import annotations

import pytest

from core.commands import build_parser
from core.demo.cohort import CohortConfig
from core.demo.pipeline import DemoConfig, run_demo
from core.demo.stages import command_runner

pytestmark = pytest.mark.slow

SMALL = DemoConfig(cohort=CohortConfig(n_slides=8, grid=(8, 8), seed=1), folds=2, epochs=10, hidden=32,
                   attn_hidden=16)


def test_demo_pipeline_runs_then_is_cached(cmu_slide, tmp_path):
    lines: list[str] = []
    first = run_demo(command_runner(build_parser), tmp_path / "ws", SMALL, echo=lines.append)
    assert first.stages["cohort"].status == "done"
    for name in ("extract", "train", "train_gce", "recover", "explain", "audit"):
        assert first.stages[name].status == "done", (name, first.stages[name])
    assert [n for n, r in first.stages.items() if r.status in ("missing", "blocked")] == []
    per_slide = (tmp_path / "ws" / "audit" / "per_slide.csv").read_text().splitlines()
    assert len(per_slide) == 1 + 8 and "evidence_path" in per_slide[0]
    s = first.summary
    assert s["abmil"]["accuracy"] is not None and s["gce"]["accuracy"] is not None
    ev = s["evidence"]
    assert ev is not None and ev["cd_gap"] is not None and 0.0 <= ev["cd_gap"] <= 1.0
    # the true evidence is found far above chance (true patches are ~10 % of a positive bag)
    assert ev["r_precision"]["attention"] > 0.5
    assert (tmp_path / "ws" / "summary.json").exists()
    assert first.view_files[0].suffix == ".tiff" and first.view_files[0].exists()
    again = run_demo(command_runner(build_parser), tmp_path / "ws", SMALL, echo=lines.append)
    for name in ("cohort", "extract", "train", "train_gce", "recover", "explain", "audit"):
        assert again.stages[name].status == "cached", name
    assert again.summary["evidence"] == ev
