"""``evident info``: metadata JSON on the real slide; one clean error line for bad inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from core.cli import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_info_on_the_real_slide(cmu_slide, capsys):
    rc, out, err = run_cli(capsys, "info", str(cmu_slide))
    assert rc == 0 and err == ""
    meta = json.loads(out)
    assert meta["dimensions"] == [2220, 2967]
    assert meta["level_count"] == 1
    assert meta["level_dimensions"] == [[2220, 2967]] and meta["level_downsamples"] == [1.0]
    assert meta["mpp"] == pytest.approx(0.499)
    assert meta["objective_power"] == 20
    assert meta["vendor"] == "aperio"
    assert out.startswith('{\n  "')  # indent 2


def test_info_on_the_pyramid(small_pyramid, capsys):
    rc, out, _ = run_cli(capsys, "info", str(small_pyramid))
    meta = json.loads(out)
    assert rc == 0 and meta["level_count"] == 6 and meta["mpp"] == pytest.approx(0.499, abs=1e-4)
    assert meta["objective_power"] == 20 and meta["vendor"] == "generic-tiff"


def test_info_non_ascii_path(cmu_slide, tmp_path, capsys):
    folder = tmp_path / "スライド é"
    folder.mkdir()
    copy = folder / "cmu.svs"
    shutil.copy(cmu_slide, copy)
    rc, out, _ = run_cli(capsys, "info", str(copy))
    assert rc == 0
    meta = json.loads(out)
    assert meta["path"] == str(copy) and meta["dimensions"] == [2220, 2967]


def _bad_cases(tmp_path, make_corrupt_tiff):
    text = tmp_path / "notes.svs"
    text.write_text("not a slide at all\n")
    truncated = tmp_path / "truncated.tif"
    good = make_corrupt_tiff("good.tif", bad_tiles=[])
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    return {
        "missing": (tmp_path / "absent.svs", "no such file"),
        "text": (text, "not a slide format"),
        "corrupt": (make_corrupt_tiff("corrupt.tif", bad_tiles=range(16)), "cannot decode region"),
        "truncated": (truncated, ""),
    }


@pytest.mark.parametrize("case", ["missing", "text", "corrupt", "truncated"])
def test_info_bad_input_one_error_line(case, tmp_path, make_corrupt_tiff, file_digest, capsys):
    path, what = _bad_cases(tmp_path, make_corrupt_tiff)[case]
    before = file_digest(path) if path.exists() else None
    listing = sorted(tmp_path.iterdir())
    rc, out, err = run_cli(capsys, "info", str(path))
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and what in lines[0]
    assert "Traceback" not in err
    if before is not None:
        assert file_digest(path) == before  # input never modified
    assert sorted(tmp_path.iterdir()) == listing  # nothing written


def test_info_console_script_exit_status(tmp_path):
    """The installed entry point: exit 2 and a single stderr line, no traceback."""
    bad = tmp_path / "fake.svs"
    bad.write_text("nope")
    proc = subprocess.run([sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())",
                           "info", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"error: {bad}: not a slide format OpenSlide can read "
                                                "(unsupported or corrupt file)"]
