"""The per-slide commands on the scheduler: the same bytes serially and in the local pool; a rerun
resumes (a bad slide with --skip-errors: tests/core/extract/test_extract_command.py)."""

from __future__ import annotations

import pytest

from core.cli import main
from testkit.cohort_files import gce_cohort, output_bytes

EXPLAIN = ["--methods", "attention,gradient,ig", "--ig-steps", "8", "--device", "cpu"]


def _explain(ckpt, files, out, *extra) -> int:
    return main(["explain", "--model", str(ckpt), "--features", *map(str, files), "--out", str(out), *EXPLAIN, *extra])


def _recover(ckpt, files, out, *extra) -> int:
    return main(["recover", "--model", str(ckpt), "--features", *map(str, files), "--out", str(out), "--device", "cpu",
                 *extra])


@pytest.mark.parametrize("command", [_explain, _recover])
def test_serial_and_pool_write_the_same_bytes(tmp_path, command):
    ckpt, files = gce_cohort(tmp_path / "in")
    assert command(ckpt, files, tmp_path / "serial", "--engine", "serial") == 0
    assert command(ckpt, files, tmp_path / "again", "--engine", "serial") == 0
    assert command(ckpt, files, tmp_path / "pool", "--engine", "pool", "--workers", "2") == 0
    serial = output_bytes(tmp_path / "serial")
    assert len(serial) == len(files) and output_bytes(tmp_path / "again") == serial
    assert output_bytes(tmp_path / "pool") == serial


def test_a_rerun_does_only_what_is_left(tmp_path, capsys):
    ckpt, files = gce_cohort(tmp_path / "in")
    out = tmp_path / "out"
    assert _explain(ckpt, files[:2], out) == 0
    before = output_bytes(out)
    capsys.readouterr()
    assert _explain(ckpt, files, out) == 0
    err = capsys.readouterr().err
    assert "2 slide(s) already done" in err and "s2: 3 method(s)" in err and "s0: " not in err
    after = output_bytes(out)
    assert {k: after[k] for k in before} == before and len(after) == len(files)
