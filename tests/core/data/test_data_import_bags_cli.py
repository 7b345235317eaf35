"""``evident import-bags`` on the real MIL CSVs, and every bad input as a one-line CLI error."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.cli import main
from core.data.bags import find_feature_file, read_bag
from core.data.manifest import read_manifest
from core.data.mil_csv import read_mil_csv

ROOT = Path(__file__).resolve().parents[3]


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("key, n_bags, width, counts", [
    ("ucsb_breast", 58, 708, {"0": 32, "1": 26}),
    ("musk1", 92, 166, {"0": 45, "1": 47}),
])
def test_import_real_csv(real_data, tmp_path, capsys, key, n_bags, width, counts):
    src = real_data[key]
    before = _sha(src)
    out = tmp_path / "out"
    assert main(["import-bags", str(src), "--out", str(out), "--patch-size", "224"]) == 0
    assert _sha(src) == before
    stdout = capsys.readouterr().out
    assert f"{n_bags} bags" in stdout and f"{width} features" in stdout
    m = read_manifest(out / "manifest.csv")
    assert m.task == "classification" and m.classes == ("0", "1") and len(m.rows) == n_bags
    assert {c: sum(r.label == c for r in m.rows) for c in m.classes} == counts
    assert sorted(p.name for p in out.iterdir()) == ["features", "manifest.csv"]  # no temp folder left
    assert len(list((out / "features").glob("*.h5"))) == n_bags
    csv_bags = {b.bag_id: b for b in read_mil_csv(src)}
    for row in m.rows:
        path = find_feature_file(row.slide_id, out)
        assert path == m.resolve(row.features_path)
        bag = read_bag(path, feature_dim=width)
        src_bag = csv_bags[bag.attrs["mil_bag_id"]]
        np.testing.assert_array_equal(bag.features, src_bag.features)
        assert bag.attrs["layout"] == "trident" and bag.attrs["coords_synthetic"] is True
        assert bag.patch_size_level0 == 224 and len({tuple(c) for c in bag.coords}) == bag.n_patches
        assert row.label == src_bag.label
    with h5py.File(out / "features" / f"{m.rows[0].slide_id}.h5") as f:
        assert f["coords"].dtype == np.int64 and f["coords"].attrs["patch_size_level0"] == 224


BAD = {
    "ragged": ("1,b1,0.5,0.2\n1,b1,0.5\n", "line 2: 3 columns, expected 4"),
    "non_numeric": ("1,b1,0.5,abc\n", "line 1, column 4: 'abc' is not a number"),
    "empty": ("", "empty file"),
    "mixed_labels": ("1,b1,0.5\n1,b1,0.6\n0,b1,0.7\n", "line 3: bag 'b1' has label '0' here but '1' on line 1"),
    "header": ("label,bag,x\n1,b1,0.5\n", "the file must have no header row"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_csv_is_one_line_error_and_nothing_written(tmp_path, capsys, case):
    text, message = BAD[case]
    src = tmp_path / f"{case}.csv"
    src.write_text(text)
    before = _sha(src)
    out = tmp_path / "out"
    assert main(["import-bags", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {src}: ") and message in err
    assert "Traceback" not in err
    assert _sha(src) == before
    assert not out.exists()


def test_cli_subprocess_exit_code_and_stderr(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("1,b1,0.5,0.2\n1,b1,0.5\n")
    before = _sha(src)
    proc = subprocess.run([sys.executable, "-m", "core.cli", "import-bags", str(src), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {src}: line 2: 3 columns, expected 4 like the first row\n"
    assert _sha(src) == before and not (tmp_path / "o" / "manifest.csv").exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    src = tmp_path / "a.csv"
    src.write_text("1,x,0.5\n0,y,0.25\n")
    out = tmp_path / "out"
    assert main(["import-bags", str(src), "--out", str(out)]) == 0
    first = _sha(out / "manifest.csv")
    src.write_text("1,z,0.5\n")
    assert main(["import-bags", str(src), "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert _sha(out / "manifest.csv") == first
    assert main(["import-bags", str(src), "--out", str(out), "--overwrite"]) == 0
    assert [r.slide_id for r in read_manifest(out / "manifest.csv").rows] == ["z"]
    assert sorted(p.name for p in (out / "features").iterdir()) == ["z.h5"]
    assert sorted(p.name for p in out.iterdir()) == ["features", "manifest.csv"]


def test_failure_midway_leaves_no_partial_output(tmp_path, monkeypatch, capsys):
    import core.data.bags as bags_mod

    src = tmp_path / "a.csv"
    src.write_text("".join(f"1,b{i},0.5\n" for i in range(5)))
    real_write, calls = bags_mod.write_bag, []

    def failing(path, bag, layout="trident"):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(path, bag, layout)

    monkeypatch.setattr(bags_mod, "write_bag", failing)
    out = tmp_path / "out"
    assert main(["import-bags", str(src), "--out", str(out)]) == 130
    assert len(calls) == 3 and not out.exists()  # the folder it created is gone again
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    calls.clear()
    assert main(["import-bags", str(src), "--out", str(out)]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_bad_patch_size_is_rejected_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["import-bags", str(tmp_path / "a.csv"), "--out", str(tmp_path), "--patch-size", "0"])
    assert exc.value.code == 2 and "must be positive" in capsys.readouterr().err
