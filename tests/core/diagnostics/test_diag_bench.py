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


def test_cost_bench_rows(monkeypatch):
    import math

    import torch

    import core.bench.cost as cost

    monkeypatch.setattr(cost, "D", 16)
    monkeypatch.setattr(cost, "H", 8)
    assert discover()["cost"] is cost
    rows = cost._rows(cost._model(torch.device("cpu")), 2000, torch.device("cpu"), repeats=1)
    assert [r["case"] for r in rows] == ["cost soft N=2000", "cost discrete 5% N=2000"]
    for row in rows:
        assert all(k in row for k in ROW_KEYS) and math.isnan(row["max_abs_diff"])
        assert row["speedup"] == row["baseline_ms"] / row["ours_ms"] and row["device"] == "cpu"
    # the host on 100 of 2000 patches allocates far less than on all of them; the soft mode more
    assert rows[1]["memory_ratio"] < 0.5 < 1 < rows[0]["memory_ratio"]


def test_explain_bench_evidence_search_row(monkeypatch):
    monkeypatch.setattr(bench, "D", 16)
    monkeypatch.setattr(bench, "H", 8)
    row = bench._search("abmil", True, 600, sample=4)
    assert all(k in row for k in ROW_KEYS) and row["case"] == "evsearch_abmil_gce_600"
    # the cached search and the one-forward-per-bag search choose the same evidence sets
    assert row["same_subsets"] is True and row["max_abs_diff"] <= 1e-5 and row["n_sets"] >= 1
    assert row["speedup"] == row["baseline_ms"] / row["ours_ms"] and row["engine_ms"] > 0
