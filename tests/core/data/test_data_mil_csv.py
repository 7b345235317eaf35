"""MIL CSV reading (real Musk1 / UCSB breast) and the synthetic-grid feature bags made from it."""

from __future__ import annotations

import csv
import re
from collections import Counter

import numpy as np
import pytest

from core.data.bags import read_bag, write_bag
from core.data.mil_csv import read_mil_csv, safe_names, synthetic_grid_coords, to_feature_bag
from core.errors import EvidentError


def _rows(path):
    with open(path, newline="") as f:
        return [r for r in csv.reader(f) if r]


@pytest.mark.parametrize("key, n_bags, width, n_inst, counts", [
    ("ucsb_breast", 58, 708, 2002, {"0": 32, "1": 26}),
    ("musk1", 92, 166, 476, {"0": 45, "1": 47}),
])
def test_real_mil_csvs(real_data, key, n_bags, width, n_inst, counts):
    bags = read_mil_csv(real_data[key])
    assert len(bags) == n_bags
    assert {b.features.shape[1] for b in bags} == {width}
    assert sum(b.features.shape[0] for b in bags) == n_inst
    assert Counter(b.label for b in bags) == counts
    rows = _rows(real_data[key])
    by_bag = {}
    for r in rows:
        by_bag.setdefault(r[1], []).append([float(v) for v in r[2:]])
    for b in bags:
        np.testing.assert_array_equal(b.features, np.asarray(by_bag[b.bag_id], dtype=np.float32))
        assert rows[b.first_line - 1][1] == b.bag_id


def test_real_bag_round_trips_through_both_layouts(real_data, tmp_path):
    bag = read_mil_csv(real_data["ucsb_breast"])[0]
    fb = to_feature_bag(bag, "b1", 256)
    for layout in ("trident", "clam"):
        out = tmp_path / f"{layout}.h5"
        write_bag(out, fb, layout=layout)
        back = read_bag(out, feature_dim=708)
        np.testing.assert_array_equal(back.features, bag.features)
        np.testing.assert_array_equal(back.coords, fb.coords)
        assert back.patch_size_level0 == 256 and back.attrs["layout"] == layout


def test_grid_coords_are_distinct_cells_inside_the_grid():
    for n in (1, 2, 7, 40):
        coords, cols, rows = synthetic_grid_coords(n, 256)
        assert coords.shape == (n, 2) and coords.dtype == np.int64
        assert cols * rows >= n and (cols - 1) * rows < n
        assert len({tuple(c) for c in coords}) == n
        assert (coords % 256 == 0).all() and coords[:, 0].max() < cols * 256 and coords[:, 1].max() < rows * 256


def test_labels_kept_as_given_and_rows_of_a_bag_need_not_be_adjacent(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("-1,b7,1,2\n1,b8,3,4\n-1,b7,5,6\n\n")
    bags = read_mil_csv(p)
    assert [(b.bag_id, b.label, b.features.shape, b.first_line) for b in bags] == [
        ("b7", "-1", (2, 2), 1), ("b8", "1", (1, 2), 2)]
    np.testing.assert_array_equal(bags[0].features, [[1, 2], [5, 6]])


def test_safe_names_are_distinct_and_portable():
    ids = ["1", "a/b", "a_b", "CON", "", "../x", "A", "a", "tumour 3"]
    names = safe_names(ids)
    assert list(names) == ids
    assert names["1"] == "1" and names["a_b"] == "a_b" and names["tumour 3"] == "tumour_3"
    assert names["CON"] == "bag_CON" and names[""] == "bag" and names["../x"] == "x"
    assert names["A"] == "A" and names["a"].startswith("a_")
    assert len({n.lower() for n in names.values()}) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", n) for n in names.values())


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("1,b1\n", "line 1: needs a label, a bag id and at least one feature"),
    ("1,b1,0.5,0.2\n1,b1,0.5\n", "line 2: 3 columns, expected 4 like the first row"),
    ("label,bag,f1\n1,b1,0.5\n", "line 1, column 3: 'f1' is not a number \\(the file must have no header row\\)"),
    ("1,b1,0.5,x\n", "line 1, column 4: 'x' is not a number"),
    ("1,b1,0.5,nan\n", "line 1, column 4: feature 'nan' is not finite"),
    ("1,b1,0.5\n0,b1,0.7\n", "line 2: bag 'b1' has label '0' here but '1' on line 1"),
    ("1,,0.5\n", "line 1: empty bag id"),
    (",b1,0.5\n", "line 1: empty bag label"),
])
def test_bad_mil_csvs(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(EvidentError, match=message) as err:
        read_mil_csv(p)
    assert err.value.path == str(p)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(EvidentError, match="CSV file not found"):
        read_mil_csv(tmp_path / "nope.csv")
    b = tmp_path / "b.csv"
    b.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xd8")
    with pytest.raises(EvidentError, match="not a text"):
        read_mil_csv(b)
