"""``evident bench cohort``: its rows on a small real-tissue pyramid, and the naive baseline draws the same picture."""

from __future__ import annotations

import math

from core.bench import ROW_KEYS, discover
from core.bench.cohort import bench_heatmaps, scheduler_scaling_rows


def test_cohort_group_rows_and_baseline_agreement(cmu_slide, tmp_path, monkeypatch):
    from core.slide.pyramid import large_slide_path

    assert "cohort" in discover()
    slide = large_slide_path(2048, cache=tmp_path)
    rows = bench_heatmaps(slide, 40, repeats=1, width_px=300)
    assert len(rows) == 3
    for row in rows:
        assert all(k in row for k in ROW_KEYS) and row["n_patches"] == 40
        assert row["ours_ms"] > 0 and row["baseline_ms"] > 0
        assert math.isclose(row["slides_per_min"], 60.0 / row["s_per_slide"])
    assert rows[0]["max_abs_diff"] <= 1  # the per-patch loop and the vectorised drawing paint the same overview
    # the scaling rows are the scheduler's own benchmark (tested in tests/core/schedule/test_schedule_bench.py)
    import core.bench.scheduling as scheduling

    monkeypatch.setattr(scheduling, "scheduling_bench", lambda quick: [{"case": "sched", "quick": quick}])
    assert scheduler_scaling_rows(quick=True) == [{"case": "sched", "quick": True}]
