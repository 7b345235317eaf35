"""The ``evidence`` benchmark group: rows in the dispatcher's format, fast path identical to naive."""

from __future__ import annotations

from core.bench import ROW_KEYS
from core.bench.evidence import GROUP, make_case, run


def test_quick_rows():
    assert GROUP == "evidence"
    rows = run(quick=True)
    assert len(rows) >= 3
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        assert row["same_subset"] and row["max_abs_diff"] == 0.0
        assert row["ours_ms"] > 0 and row["baseline_ms"] > 0


def test_make_case_shapes():
    g, r, a = make_case(500, 6, seed=1)
    assert g.shape == (500,) and r.shape == (500, 6) and a.shape == (6,)
    assert ((r > 0) & (r < 1)).all() and (a > 0).all()
