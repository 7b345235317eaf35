"""Benchmark group ``explain`` on tiny inputs: rows well formed, fast paths agree with their baselines."""

from __future__ import annotations

import core.bench.explain as bench
from core.bench import ROW_KEYS, discover


def test_explain_bench_rows(monkeypatch):
    monkeypatch.setattr(bench, "D", 16)
    monkeypatch.setattr(bench, "H", 8)
    rows = [bench._loo(3000, 5), bench._intervene("abmil", True, 400), bench._intervene("clam_sb", False, 400), bench._ig(30)]
    assert discover()["explain"] is bench
    for row in rows:
        assert all(k in row for k in ROW_KEYS)
        assert row["max_abs_diff"] <= 1e-4, row
        assert row["ours_ms"] > 0 and row["baseline_ms"] > 0
        assert row["speedup"] == row["baseline_ms"] / row["ours_ms"]
    # the closed form answers all N removals for about the cost of one forward, the baseline needs N
    # of them: on a 3000-patch bag that is orders of magnitude, far beyond timing noise on a busy CPU
    assert rows[0]["speedup"] > 10
