"""Atomic outputs keep the user's umask and what a SIGKILLed run left behind is cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.atomic import atomic_path, atomic_write_json, atomic_write_text, staging_dir
from core.data.bag import FeatureBag
from core.data.bags import write_bag

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and signals")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


@posix_only
def test_outputs_get_the_umask_mode_not_0600(tmp_path, umask_022):
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "b.json", {"a": 1})
    bag = FeatureBag(features=np.ones((3, 4), np.float32), coords=np.array([[0, 0], [1, 0], [2, 0]]), slide_id="s")
    write_bag(tmp_path / "c.h5", bag)
    for name in ("a.txt", "b.json", "c.h5"):
        assert _mode(tmp_path / name) == 0o644, name
    os.umask(0o002)
    atomic_write_text(tmp_path / "d.txt", "x")
    assert _mode(tmp_path / "d.txt") == 0o664
    (tmp_path / "a.txt").chmod(0o640)  # a replaced file keeps its own mode
    atomic_write_text(tmp_path / "a.txt", "y")
    assert _mode(tmp_path / "a.txt") == 0o640 and (tmp_path / "a.txt").read_text() == "y"
    with staging_dir(tmp_path, "stage") as stage:
        assert _mode(stage) == 0o775


@posix_only
def test_the_next_write_removes_temporaries_of_a_dead_process(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process id that has just exited
    (tmp_path / f".out.h5.{pid}-abcdefgh.tmp").write_bytes(b"half")
    (tmp_path / f".import-bags-{pid}-x1y2").mkdir()
    (tmp_path / f".import-bags-{pid}-x1y2" / "f.h5").write_bytes(b"half")
    alive = tmp_path / f".import-bags-{os.getppid()}-keep"  # a running process's folder is not touched
    alive.mkdir()
    with atomic_path(tmp_path / "other.txt") as tmp:
        tmp.write_text("x")
    with staging_dir(tmp_path, "import-bags"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "other.txt"])


@posix_only
def test_import_bags_after_sigkill_leaves_no_debris(real_data, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "import-bags", str(real_data["musk1"]), "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(".import-bags-*/features/*.h5")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(out.glob(".import-bags-*")), "the run was not caught mid-write"
    from core.cli import main

    assert main(["import-bags", str(real_data["musk1"]), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["features", "manifest.csv"]
