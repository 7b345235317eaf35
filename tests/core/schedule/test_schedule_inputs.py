"""The ledger sees changed inputs (core.schedule, a job's ``input_key``): a slide whose input file was
rewritten is done again, on every engine; records without a key; locks that stopped being refreshed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.schedule import ledger as ledger_mod
from core.schedule import ledger_folder, run_jobs
from core.schedule.job import stat_key
from testkit.slide_jobs import (
    CountingJob,
    InputJob,
    counting_run_command,
    done_counts,
    rewrite_input,
    subprocess_env,
    write_inputs,
)

IDS = [f"slide-{i:02d}" for i in range(6)]


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(out.glob("*.out"))}


@pytest.mark.parametrize("engine, workers", [("serial", None), ("pool", 2)])
def test_a_rewritten_input_is_done_again_and_only_it(tmp_path, engine, workers):
    inputs = write_inputs(tmp_path / "in", IDS)
    job = InputJob(log=str(tmp_path / "log"), inputs=str(inputs))
    out = tmp_path / "out"
    assert run_jobs(job, IDS, out, engine=engine, workers=workers).done == len(IDS)
    first = _outputs(out)
    again = run_jobs(job, IDS, out, engine=engine, workers=workers)
    assert (again.done, again.already_done) == (0, len(IDS))  # unchanged inputs: skipped
    changed = IDS[2]
    rewrite_input(inputs, changed, "v2")
    third = run_jobs(job, IDS, out, engine=engine, workers=workers)
    assert (third.done, third.already_done) == (1, len(IDS) - 1)
    now = _outputs(out)
    assert now[changed] != first[changed]
    assert {s: b for s, b in now.items() if s != changed} == {s: b for s, b in first.items() if s != changed}
    assert done_counts(tmp_path / "log") == {s: 2 if s == changed else 1 for s in IDS}
    rec = json.loads((ledger_folder(out, job.name) / f"{changed}.json").read_text())
    assert rec["input"] == job.input_key(changed) and rec["state"] == "done"


def test_the_key_recorded_is_the_one_seen_before_the_slide_ran(tmp_path):
    """An input rewritten while its slide runs: the record keeps the key from before, so the next run
    sees the change and does the slide again with the new input."""
    inputs = write_inputs(tmp_path / "in", IDS[:2])
    out = tmp_path / "out"
    job = _RewritingJob(log=str(tmp_path / "log"), inputs=str(inputs))
    run_jobs(job, IDS[:2], out, engine="serial")
    summary = run_jobs(job, IDS[:2], out, engine="serial")
    assert (summary.done, summary.already_done) == (1, 1)


@dataclass(frozen=True)
class _RewritingJob(InputJob):
    """Rewrites ``slide-00``'s input while doing it, once (a marker file remembers)."""

    def run(self, state, slide_id, out_dir):
        super().run(state, slide_id, out_dir)
        marker = Path(f"{self.log}.rewrote")
        if slide_id == IDS[0] and not marker.exists():
            marker.write_text("x")
            rewrite_input(self.inputs, slide_id, "during")


def test_records_without_an_input_key_are_kept_and_given_the_current_one(tmp_path):
    """A ledger written before input keys (or by a job without them) is trusted: its done slides are
    not redone after the upgrade; they are given the current key, so a later change is seen."""
    inputs = write_inputs(tmp_path / "in", IDS)
    out = tmp_path / "out"
    job = InputJob(log=str(tmp_path / "log"), inputs=str(inputs))
    run_jobs(job, IDS, out, engine="serial")
    folder = ledger_folder(out, job.name)
    for s in IDS:  # as an earlier version wrote them: no "input"
        p = folder / f"{s}.json"
        rec = json.loads(p.read_text())
        del rec["input"]
        p.write_text(json.dumps(rec))
    summary = run_jobs(job, IDS, out, engine="serial")
    assert (summary.done, summary.already_done) == (0, len(IDS))
    adopted = [json.loads((folder / f"{s}.json").read_text()) for s in IDS]
    assert [r["input"] for r in adopted] == [job.input_key(s) for s in IDS] and all(r["input_adopted"] for r in adopted)
    assert not list(folder.glob("*.lock"))
    rewrite_input(inputs, IDS[0], "v2")
    assert run_jobs(job, IDS, out, engine="serial").done == 1


def test_a_job_without_input_key_is_resumed_by_its_settings_alone(tmp_path):
    inputs = write_inputs(tmp_path / "in", IDS[:3])
    job = CountingJob(log=str(tmp_path / "log"))
    run_jobs(job, IDS[:3], tmp_path / "out", engine="serial")
    rewrite_input(inputs, IDS[0], "v2")  # the job does not read it: nothing to redo
    assert run_jobs(job, IDS[:3], tmp_path / "out", engine="serial").already_done == 3
    rec = json.loads((ledger_folder(tmp_path / "out", job.name) / f"{IDS[0]}.json").read_text())
    assert rec["input"] is None


def test_a_missing_input_redoes_the_slide_and_fails_it_by_name(tmp_path):
    inputs = write_inputs(tmp_path / "in", IDS[:2])
    job = InputJob(log=str(tmp_path / "log"), inputs=str(inputs))
    run_jobs(job, IDS[:2], tmp_path / "out", engine="serial")
    key = job.input_key(IDS[1])
    (inputs / f"{IDS[1]}.in").unlink()
    assert job.input_key(IDS[1]) != key  # stat_key: 'missing', not an exception
    summary = run_jobs(job, IDS[:2], tmp_path / "out", engine="serial", skip_errors=True)
    assert (summary.already_done, summary.failed) == (1, 1) and f"{IDS[1]}.in" in summary.failures[0][1]


def test_an_input_key_that_raises_redoes_the_slide(tmp_path):
    inputs = write_inputs(tmp_path / "in", IDS[:2])
    job = _RaisingKeyJob(log=str(tmp_path / "log"), inputs=str(inputs))
    assert run_jobs(job, IDS[:2], tmp_path / "out", engine="serial").done == 2
    Path(f"{job.log}.raise").write_text("x")  # from now on, slide-00's input_key raises
    summary = run_jobs(job, IDS[:2], tmp_path / "out", engine="serial")
    assert (summary.done, summary.already_done) == (1, 1)
    rec = json.loads((ledger_folder(tmp_path / "out", job.name) / f"{IDS[0]}.json").read_text())
    assert rec["input"] == "unreadable: OSError"


@dataclass(frozen=True)
class _RaisingKeyJob(InputJob):
    """``input_key`` of ``slide-00`` raises once the file ``<log>.raise`` exists."""

    def input_key(self, slide_id):
        if slide_id == IDS[0] and Path(f"{self.log}.raise").exists():
            raise OSError("cannot stat")
        return super().input_key(slide_id)


def test_stat_key_follows_size_and_mtime_and_path(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"x" * 10)
    k = stat_key(a)
    assert stat_key(a) == k and stat_key(str(a)) == k
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 1))
    assert stat_key(a) != k
    k = stat_key(a)
    b = tmp_path / "b.bin"
    b.write_bytes(b"x" * 10)
    os.utime(b, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns))
    assert stat_key(b) != k  # the same size and time stamps, another file
    assert stat_key(a, None) != stat_key(a) and stat_key(a, extra=1) != stat_key(a, extra=2)


def test_two_runs_after_an_input_change_never_do_a_slide_twice(tmp_path):
    n, out, log = 60, tmp_path / "out", tmp_path / "log"
    ids = [f"slide-{i:05d}" for i in range(n)]
    inputs = write_inputs(tmp_path / "in", ids)
    cmd = counting_run_command(out, log, n, "serial", 1, seconds=0.1, inputs=inputs)
    first = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr
    changed = [s for i, s in enumerate(ids) if i % 3]
    for s in changed:
        rewrite_input(inputs, s, "v2")
    procs = [subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # 4 s of work between them: the runs overlap
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1] for r in results]
    a, b = (json.loads(r[0].strip().splitlines()[-1]) for r in results)
    assert done_counts(log) == {s: 2 if s in changed else 1 for s in ids}
    assert a["done"] + b["done"] == len(changed)
    assert a["done"] > 0 and b["done"] > 0, "the runs did not overlap: nothing was tested"


# -- locks that stopped being refreshed ---------------------------------------------------------------

def _lock(folder: Path, sid: str, holder: dict, age_s: float = 0.0) -> None:
    p = folder / f"{sid}.lock"
    p.write_text(json.dumps(holder))
    if age_s:
        t = time.time() - age_s
        os.utime(p, (t, t))


def test_a_lock_of_another_machine_is_taken_over_only_when_its_heartbeat_stopped(tmp_path):
    job = CountingJob(log=str(tmp_path / "log"))
    out = tmp_path / "out"
    folder = ledger_folder(out, job.name)
    folder.mkdir(parents=True)
    gone, fresh, legacy = IDS[:3]
    elsewhere = {"run": "other", "pid": 12345, "host": "another-machine", "started": "then"}
    _lock(folder, gone, {**elsewhere, "heartbeat_s": 60}, age_s=ledger_mod.LOCK_EXPIRES_S + 60)
    _lock(folder, fresh, {**elsewhere, "heartbeat_s": 60}, age_s=ledger_mod.LOCK_EXPIRES_S - 60)
    _lock(folder, legacy, elsewhere, age_s=10 * ledger_mod.LOCK_EXPIRES_S)  # an earlier version's: no heartbeat
    summary = run_jobs(job, IDS[:3], out, engine="serial")
    assert (summary.done, summary.busy) == (1, 2)
    assert set(done_counts(tmp_path / "log")) == {gone}
    assert sorted(p.stem for p in folder.glob("*.lock")) == [fresh, legacy]


def test_a_lock_of_a_live_pid_whose_heartbeat_stopped_is_taken_over(tmp_path):
    """This machine, a live pid (reused by another process), a lock untouched for long: taken over."""
    job = CountingJob(log=str(tmp_path / "log"))
    out = tmp_path / "out"
    folder = ledger_folder(out, job.name)
    folder.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = {"run": "other", "pid": live.pid, "host": socket.gethostname(), "started": "then", "heartbeat_s": 60}
        _lock(folder, IDS[0], holder, age_s=ledger_mod.LOCK_EXPIRES_S + 60)
        _lock(folder, IDS[1], holder)
        summary = run_jobs(job, IDS[:2], out, engine="serial")
    finally:
        live.kill()
        live.wait()
    assert (summary.done, summary.busy) == (1, 1)
    assert set(done_counts(tmp_path / "log")) == {IDS[0]}


def test_the_worker_refreshes_its_lock_while_doing_a_slide(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "HEARTBEAT_S", 0.05)
    out = tmp_path / "out"
    job = _LockWatchingJob(log=str(tmp_path / "log"), seconds=0.6)
    run_jobs(job, IDS[:1], out, engine="serial")
    seen = [json.loads(line) for line in Path(f"{job.log}.locks").read_text().splitlines()]
    assert seen[0]["heartbeat_s"] is not None
    assert seen[1]["mtime"] - seen[0]["mtime"] >= 0.3  # touched while the slide ran


@dataclass(frozen=True)
class _LockWatchingJob(CountingJob):
    """Writes the lock's content and mtime before and after sleeping ``seconds``."""

    def run(self, state, slide_id, out_dir):
        lock = ledger_folder(out_dir, self.name) / f"{slide_id}.lock"
        with open(f"{self.log}.locks", "a") as f:
            f.write(json.dumps({**json.loads(lock.read_text()), "mtime": lock.stat().st_mtime}) + "\n")
            time.sleep(self.seconds)
            f.write(json.dumps({"mtime": lock.stat().st_mtime}) + "\n")
