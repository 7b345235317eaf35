"""The ledger and the serial engine (core.schedule): done / failed / locked, resume, --skip-errors, stale locks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from core.errors import EvidentError
from core.schedule import Ledger, job_settings_key, ledger_folder, run_jobs
from testkit.slide_jobs import CountingJob, done_counts, slide_bytes

IDS = [f"slide-{i:02d}" for i in range(12)]


def _job(tmp_path, **kw) -> CountingJob:
    return CountingJob(log=str(tmp_path / "log"), **kw)


def test_serial_run_writes_outputs_and_a_done_record_per_slide(tmp_path):
    job = _job(tmp_path)
    summary = run_jobs(job, IDS, tmp_path / "out", engine="serial")
    assert summary.done == len(IDS) and summary.complete
    assert all((tmp_path / "out" / f"{s}.out").read_bytes() == slide_bytes(s) for s in IDS)
    folder = ledger_folder(tmp_path / "out", job.name)
    records = [json.loads((folder / f"{s}.json").read_text()) for s in IDS]
    assert {r["state"] for r in records} == {"done"} and [r["slide_id"] for r in records] == IDS
    assert not list(folder.glob("*.lock"))
    # a second run does nothing: every slide is recorded done under the same settings
    again = run_jobs(job, IDS, tmp_path / "out", engine="serial")
    assert (again.done, again.already_done) == (0, len(IDS))
    assert done_counts(tmp_path / "log") == {s: 1 for s in IDS}


def test_other_settings_do_the_slides_again(tmp_path):
    run_jobs(_job(tmp_path), IDS[:3], tmp_path / "out", engine="serial")
    other = _job(tmp_path, seconds=0.001)  # another setting, same job name
    assert job_settings_key(other) != job_settings_key(_job(tmp_path))
    assert run_jobs(other, IDS[:3], tmp_path / "out", engine="serial").done == 3
    assert done_counts(tmp_path / "log") == {s: 2 for s in IDS[:3]}


def test_skip_errors_records_the_bad_slide_and_goes_on(tmp_path):
    bad = IDS[4]
    summary = run_jobs(_job(tmp_path, bad=frozenset({bad})), IDS, tmp_path / "out", engine="serial", skip_errors=True)
    assert (summary.done, summary.failed, summary.not_started) == (len(IDS) - 1, 1, 0)
    assert summary.failures == ((bad, f"{bad}.svs: planted bad slide"),)
    rec = json.loads((ledger_folder(tmp_path / "out", "counting") / f"{bad}.json").read_text())
    assert rec["state"] == "failed" and rec["error"] == f"{bad}.svs: planted bad slide"
    assert "planted bad slide" in rec["traceback"]
    assert not (tmp_path / "out" / f"{bad}.out").exists()
    # a rerun tries the failed slide again, and only it
    again = run_jobs(_job(tmp_path, bad=frozenset({bad})), IDS, tmp_path / "out", engine="serial")
    assert (again.done, again.already_done, again.failed) == (0, len(IDS) - 1, 1)
    assert done_counts(tmp_path / "log") == {s: 1 for s in IDS if s != bad}


def test_without_skip_errors_the_run_stops_at_the_failure(tmp_path):
    bad = IDS[4]
    summary = run_jobs(_job(tmp_path, bad=frozenset({bad})), IDS, tmp_path / "out", engine="serial")
    assert (summary.done, summary.failed, summary.not_started) == (4, 1, len(IDS) - 5)
    assert not summary.complete and summary.failures[0][0] == bad
    assert set(done_counts(tmp_path / "log")) == set(IDS[:4])


def test_stale_lock_of_a_dead_process_is_reclaimed_and_a_live_one_is_left(tmp_path):
    out = tmp_path / "out"
    job = _job(tmp_path)
    folder = ledger_folder(out, job.name)
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for sid, pid in ((IDS[0], int(dead.stdout)), (IDS[1], live.pid)):
            (folder / f"{sid}.lock").write_text(json.dumps({"run": "earlier", "pid": pid, "host": socket.gethostname(),
                                                            "started": "then"}))
        (folder / f"{IDS[2]}.lock").write_text(json.dumps({"run": "x", "pid": 1, "host": "another-machine"}))
        summary = run_jobs(job, IDS[:3], out, engine="serial")
    finally:
        live.kill()
        live.wait()
    assert (summary.done, summary.busy) == (1, 2)
    assert set(done_counts(tmp_path / "log")) == {IDS[0]}


def test_slide_ids_that_are_not_file_names(tmp_path):
    ids = ["a/b", "..", ".hidden", "ümlaut slide", "x" * 400]
    ledger = Ledger(tmp_path, "job/with slash", "k", "run")
    names = {ledger.record_path(s).name for s in ids}
    assert len(names) == len(ids) and all(len(n.encode()) < 255 and "/" not in n for n in names)
    assert all(ledger.record_path(s).parent == ledger.folder for s in ids)


def test_bad_arguments_are_one_clear_error(tmp_path):
    job = _job(tmp_path)
    with pytest.raises(EvidentError, match="appears twice"):
        run_jobs(job, ["a", "b", "a"], tmp_path / "out", engine="serial")
    with pytest.raises(EvidentError, match="unknown engine"):
        run_jobs(job, ["a"], tmp_path / "out", engine="threads")
    with pytest.raises(EvidentError, match="at least 1"):
        run_jobs(job, ["a"], tmp_path / "out", workers=0)
    assert not (tmp_path / "log").exists() and not (tmp_path / "out").exists()


def test_a_job_that_cannot_start_leaves_no_output_folder(tmp_path):
    """A setup that fails (bad weights, unreadable model) is the job's failure, not a slide's: the
    folders the run created (OUT, its ledger) are removed again, an existing OUT is left as it was."""
    from dataclasses import dataclass

    from core.errors import EvidentError
    from core.schedule import run_jobs

    @dataclass(frozen=True)
    class Broken:
        name: str = "broken"

        def setup(self):
            raise EvidentError("model.pt", "not a checkpoint")

        def run(self, state, slide_id, out_dir):  # pragma: no cover - never reached
            raise AssertionError

    out = tmp_path / "new" / "out"
    with pytest.raises(EvidentError, match="not a checkpoint"):
        run_jobs(Broken(), ["a", "b"], out, engine="serial")
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("x")
    with pytest.raises(EvidentError):
        run_jobs(Broken(), ["a"], existing, engine="serial")
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]


def test_a_lock_appears_whole_or_not_at_all(tmp_path):
    """Locks are written to a private file and hard-linked into place: a reader never sees an empty or
    half-written lock (which it could not attribute, and would treat as busy for a minute), a second
    creation fails with FileExistsError, and no private file is left behind."""
    lock = tmp_path / "s.lock"
    Ledger._create_lock(lock, {"run": "r1", "pid": 1})
    assert json.loads(lock.read_text()) == {"run": "r1", "pid": 1}
    with pytest.raises(FileExistsError):
        Ledger._create_lock(lock, {"run": "r2", "pid": 2})
    assert json.loads(lock.read_text())["run"] == "r1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.lock"]
