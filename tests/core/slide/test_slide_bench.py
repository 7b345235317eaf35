"""``evident bench``: group discovery, table/JSON output, and the slide group on a real-tissue pyramid."""

from __future__ import annotations

import json

import pytest

from core.bench import ROW_KEYS, discover
from core.bench.slide import bench_slide
from core.cli import main
from core.commands.bench import format_table


def test_discover_finds_the_slide_group():
    groups = discover()
    assert "slide" in groups and callable(groups["slide"].run)


def test_unknown_group_is_one_error_line(capsys):
    rc = main(["bench", "no-such-group"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: no-such-group: unknown benchmark group")


def test_table_is_aligned_and_lists_extra_keys():
    rows = [
        {"group": "g", "case": "a", "ours_ms": 1.5, "baseline_ms": 3.0, "speedup": 2.0, "max_abs_diff": 0.0, "n": 3},
        {"group": "g", "case": "longer case", "ours_ms": 0.000123, "baseline_ms": 12345678.0, "speedup": 1e11,
         "max_abs_diff": 0.0},
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["group", "case", "ours_ms", "baseline_ms", "speedup", "max_abs_diff", "n"]
    assert len(lines) == 4
    # columns line up: slicing every line at the dash runs gives exactly the cells
    import re

    runs = [m.span() for m in re.finditer(r"-+", lines[1])]
    assert len(runs) == 7
    cells = [[line[a:b].strip() for a, b in runs] for line in (lines[0], lines[2], lines[3])]
    assert cells[0] == ["group", "case", "ours_ms", "baseline_ms", "speedup", "max_abs_diff", "n"]
    assert cells[1] == ["g", "a", "1.5", "3", "2", "0", "3"]
    assert cells[2] == ["g", "longer case", "1.230e-04", "1.235e+07", "1.000e+11", "0", ""]
    # numbers are right-aligned
    b = runs[2][1]
    assert lines[2][b - 1] != " " and lines[3][b - 1] != " "


def test_slide_bench_rows_on_small_pyramid(small_pyramid):
    rows = bench_slide(small_pyramid, n_tiles=12, workers=2, n_cache=6, repeats=2)
    assert len(rows) == 2
    for row in rows:
        assert all(k in row for k in ROW_KEYS)
        assert row["ours_ms"] > 0 and row["baseline_ms"] > 0
        assert row["speedup"] == pytest.approx(row["baseline_ms"] / row["ours_ms"])
        assert row["max_abs_diff"] == 0.0  # pool tiles == direct reads; cache hits == decoded tiles
    loader_row, cache_row = rows
    assert loader_row["workers"] == 2 and loader_row["tiles_per_s"] > 0
    assert cache_row["cache_hits"] == 6 and cache_row["cache_misses"] == 6
    assert cache_row["speedup"] > 5  # a dict lookup beats a JPEG decode by far, even on a busy machine


def test_bench_command_json(small_pyramid, capsys, monkeypatch):
    import core.bench.slide as slide_bench

    monkeypatch.setattr(slide_bench, "run", lambda quick: bench_slide(small_pyramid, n_tiles=4, workers=2, n_cache=2, repeats=1))
    rc = main(["bench", "slide", "--quick", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    rows = json.loads(out)
    assert [r["group"] for r in rows] == ["slide", "slide"]
    rc = main(["bench", "slide", "--quick"])
    out, _ = capsys.readouterr()
    assert rc == 0 and out.splitlines()[0].startswith("group") and len(out.splitlines()) == 4
