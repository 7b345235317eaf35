"""The per-slide commands on the scheduler: the same bytes serially and in the local pool; a rerun
resumes (a bad slide with --skip-errors: tests/core/extract/test_extract_command.py)."""

from __future__ import annotations

import os

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


def _rewrite_bag(path, seed: int) -> None:
    """New features (another draw) for the bag at ``path``, same slide id and patches count, and a
    modification time 1 s later than before."""
    from core.data.bag import FeatureBag
    from core.data.bags import read_bag, write_bag
    from testkit.explain import bag

    old = read_bag(path)
    x, _ = bag(old.features.shape[0], seed=seed)
    before = path.stat().st_mtime_ns
    write_bag(path, FeatureBag(x, old.coords, 256, old.slide_id))
    os.utime(path, ns=(before + 10**9, before + 10**9))


@pytest.mark.parametrize("command", [_explain, _recover])
def test_re_extracted_features_redo_that_slide_only(tmp_path, capsys, command):
    ckpt, files = gce_cohort(tmp_path / "in", n=3)
    out = tmp_path / "out"
    assert command(ckpt, files, out, "--engine", "serial") == 0
    before = output_bytes(out)
    capsys.readouterr()
    assert command(ckpt, files, out, "--engine", "serial") == 0
    assert "3 slide(s) already done" in capsys.readouterr().err and output_bytes(out) == before
    _rewrite_bag(files[1], seed=99)
    assert command(ckpt, files, out, "--engine", "serial") == 0
    assert "2 slide(s) already done" in capsys.readouterr().err
    after = output_bytes(out)
    assert [k for k in before if after[k] != before[k]] == ["s1.evidence.h5"]


def test_a_retrained_model_under_the_same_name_redoes_every_slide(tmp_path, capsys):
    from core.models.checkpoint import save_checkpoint
    from testkit.explain import abmil, gce

    ckpt, files = gce_cohort(tmp_path / "in", n=2)
    out = tmp_path / "out"
    assert _explain(ckpt, files, out, "--engine", "serial") == 0
    before = output_bytes(out)
    capsys.readouterr()
    model = gce(abmil(seed=5), seed=5)
    stamp = ckpt.stat().st_mtime_ns
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": ["a", "b", "c"]})
    os.utime(ckpt, ns=(stamp + 10**9, stamp + 10**9))
    assert _explain(ckpt, files, out, "--engine", "serial") == 0
    assert "already done" not in capsys.readouterr().err
    after = output_bytes(out)
    assert all(after[k] != before[k] for k in before)
