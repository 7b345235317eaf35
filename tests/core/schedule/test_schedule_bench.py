"""core.bench.scheduling: one row per engine and worker count against the serial loop, outputs compared."""

from __future__ import annotations

import math

from core.bench import ROW_KEYS
from core.bench.scheduling import scheduling_rows
from testkit.slide_jobs import CountingJob


def test_scheduling_rows_time_the_pool_against_serial_and_compare_bytes(tmp_path):
    job = CountingJob(log=str(tmp_path / "log"), seconds=0.05)
    rows = scheduling_rows(job, [f"s{i}" for i in range(6)], engines=("pool",), workers=(1, 2), workdir=tmp_path,
                           label="fake_")
    assert [r["case"] for r in rows] == ["fake_pool_1w", "fake_pool_2w"]
    for r in rows:
        assert all(k in r for k in ROW_KEYS) and r["max_abs_diff"] == 0.0 and r["slides"] == 6
        assert math.isclose(r["speedup"], r["baseline_ms"] / r["ours_ms"])
        assert math.isclose(r["slides_per_min"], 6 * 60_000 / r["ours_ms"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("evident-sched-")]  # cleaned up


def test_a_job_whose_outputs_differ_between_engines_is_flagged(tmp_path):
    job = _PidJob(log=str(tmp_path / "log"))
    rows = scheduling_rows(job, ["a", "b"], engines=("pool",), workers=(2,), workdir=tmp_path)
    assert math.isnan(rows[0]["max_abs_diff"])


class _PidJob(CountingJob):
    """Writes its worker's pid: other bytes in each process."""

    def run(self, state, slide_id, out_dir):
        (out_dir / f"{slide_id}.out").write_text(str(state["pid"]))
