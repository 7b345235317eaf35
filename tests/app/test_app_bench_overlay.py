"""The overlay-slider benchmark row runs, drags both sliders to the end on both paths, and reports."""

from __future__ import annotations

import json


def test_overlay_drag_row_on_a_small_map(qtbot, monkeypatch):
    import app.bench_overlay as bench

    ours = bench.run_overlay_drag(cached=True, n_cols=40, n_rows=25, steps=6)
    base = bench.run_overlay_drag(cached=False, n_cols=40, n_rows=25, steps=6)
    for r in (ours, base):
        assert r["final_settings"] == (1.0, 1.0)  # the drags reached the session
        assert r["max_stall_cpu_ms"] > 0 and r["p95_step_ms"] <= r["max_stall_ms"]
        assert r["max_stall_ms"] == max(r["opacity_max_stall_ms"], r["threshold_max_stall_ms"])
    assert ours["_alpha_shown"] == base["_alpha_shown"] > 0  # both paths end with the same patches drawn
    monkeypatch.setattr(bench, "run_overlay_drag", lambda cached, steps: dict(ours if cached else base))
    row = bench.overlay_row(steps=6)
    assert row["same_final_map"] and row["ours_ms"] == ours["max_stall_ms"]
    assert row["baseline_ms"] == base["max_stall_ms"] and json.dumps(row)
    from core.bench import ROW_KEYS

    assert all(k in row for k in ROW_KEYS)  # `evident bench viewer` refuses a row without them
    assert row["max_abs_diff"] == 0.0
