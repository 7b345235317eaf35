"""The local process pool (core.schedule): same bytes as serial, setup once per worker, a lost worker
loses nothing, a killed run resumes (10,000 slides), two runs on one folder never do a slide twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from core.schedule import ledger_folder, run_jobs
from testkit.slide_jobs import CountingJob, counting_run_command, done_counts, subprocess_env

IDS = [f"slide-{i:02d}" for i in range(16)]


def _tree(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.out"))}


def test_pool_gives_the_serial_bytes_and_sets_up_once_per_worker(tmp_path):
    run_jobs(CountingJob(log=str(tmp_path / "a.log")), IDS, tmp_path / "serial", engine="serial")
    job = CountingJob(log=str(tmp_path / "b.log"))
    summary = run_jobs(job, IDS, tmp_path / "pool", engine="pool", workers=2)
    assert summary.done == len(IDS) and summary.complete
    assert _tree(tmp_path / "pool") == _tree(tmp_path / "serial") and len(_tree(tmp_path / "serial")) == len(IDS)
    setups = (tmp_path / "b.log.setup").read_text().split()
    assert len(setups) == 2 and os.getpid() not in map(int, setups)  # two spawned workers, one setup each
    assert done_counts(tmp_path / "b.log") == {s: 1 for s in IDS}


def test_a_killed_worker_loses_nothing(tmp_path):
    victims = frozenset({IDS[3], IDS[9]})  # each kills its worker (SIGKILL) on the first attempt
    job = CountingJob(log=str(tmp_path / "log"), die_once=victims)
    summary = run_jobs(job, IDS, tmp_path / "out", engine="pool", workers=2)
    assert summary.complete and summary.done == len(IDS)
    assert all((tmp_path / f"log.died.{v}").exists() for v in victims)
    assert done_counts(tmp_path / "log") == {s: 1 for s in IDS}
    assert len((tmp_path / "log.setup").read_text().split()) == 2 + len(victims)  # a replacement per lost worker
    assert not list(ledger_folder(tmp_path / "out", job.name).glob("*.lock"))


def test_pool_stops_after_a_failure_unless_skip_errors(tmp_path):
    bad = IDS[2]
    job = CountingJob(log=str(tmp_path / "log"), bad=frozenset({bad}), seconds=0.05)
    stopped = run_jobs(job, IDS, tmp_path / "a", engine="pool", workers=2)
    assert stopped.failed == 1 and stopped.failures[0] == (bad, f"{bad}.svs: planted bad slide")
    assert stopped.not_started > 0 and stopped.done + stopped.not_started == len(IDS) - 1
    went_on = run_jobs(job, IDS, tmp_path / "b", engine="pool", workers=2, skip_errors=True)
    assert (went_on.done, went_on.failed, went_on.not_started) == (len(IDS) - 1, 1, 0)


def _wait_for(predicate, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_killed_run_of_10000_slides_resumes_and_does_each_slide_once(tmp_path):
    n, out, log = 10_000, tmp_path / "out", tmp_path / "log"
    folder = ledger_folder(out, "counting")
    cmd = counting_run_command(out, log, n, "pool", 2)
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: log.exists() and len(log.read_bytes()) > 1500 * 12, 120, "the first slides")
    os.kill(proc.pid, signal.SIGKILL)  # the driver; its workers finish the slide in hand and exit
    proc.communicate()
    first = done_counts(log)
    assert 0 < len(first) < n, "the kill came too late to test a resume"
    # the orphaned workers finish what they hold and remove their locks
    _wait_for(lambda: not list(folder.glob("*.lock")), 30, "the killed run's workers to exit")
    resume = counting_run_command(out, log, n, "serial", 1)  # any engine resumes from the ledger; serial is fastest
    second = subprocess.run(resume, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    counts = done_counts(log)
    assert counts == {f"slide-{i:05d}": 1 for i in range(n)}  # every slide, each exactly once
    assert summary["already_done"] == len(first) and summary["done"] == n - len(first)
    assert len(list(out.glob("*.out"))) == n and not list(folder.glob("*.lock"))


def test_two_runs_on_one_folder_never_do_a_slide_twice(tmp_path):
    n, out, log = 300, tmp_path / "out", tmp_path / "log"  # 6 s of work each: the runs overlap
    cmds = [counting_run_command(out, log, n, "serial", 1, seconds=0.02) for _ in range(2)]
    procs = [subprocess.Popen(c, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1] for r in results]
    a, b = (json.loads(r[0].strip().splitlines()[-1]) for r in results)
    assert done_counts(log) == {f"slide-{i:05d}": 1 for i in range(n)}
    assert a["done"] + b["done"] == n and a["failed"] == b["failed"] == 0
    assert a["done"] > 0 and b["done"] > 0, "the runs did not overlap: nothing was tested"


def test_ctrl_c_stops_the_pool_at_once_and_a_rerun_finishes(tmp_path):
    n, out, log = 40, tmp_path / "out", tmp_path / "log"
    cmd = counting_run_command(out, log, n, "pool", 2, seconds=0.5)
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: log.exists() and len(done_counts(log)) >= 2, 120, "the first slides")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    workers = [int(p) for p in (tmp_path / "log.setup").read_text().split()]
    for pid in workers:  # the driver took its workers down with it
        _wait_for(lambda pid=pid: not _alive(pid), 10, f"worker {pid} to end")
    second = subprocess.run(counting_run_command(out, log, n, "serial", 1), env=subprocess_env(),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert set(done_counts(log)) == {f"slide-{i:05d}" for i in range(n)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
