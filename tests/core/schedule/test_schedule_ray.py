"""The Ray engine (core.schedule) on a local Ray cluster: the bytes of serial and of the pool; a lost
actor (ray.kill, or its process killed mid-slide) loses nothing."""

from __future__ import annotations

import os
import sys

import pytest
import ray  # the optional extra evident[cluster]; the test extra installs it

from core.schedule import ledger_folder, run_jobs
from core.schedule.ray_engine import ACTOR_PREFIX
from testkit.slide_jobs import CountingJob, InputJob, done_counts, rewrite_input, write_inputs

IDS = [f"slide-{i:02d}" for i in range(12)]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs whose workers import this checkout and tests/testkit."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield
    ray.shutdown()


def _tree(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.out"))}


def test_ray_gives_the_bytes_of_serial_and_of_the_pool(ray_cluster, tmp_path):
    run_jobs(CountingJob(log=str(tmp_path / "s.log")), IDS, tmp_path / "serial", engine="serial")
    run_jobs(CountingJob(log=str(tmp_path / "p.log")), IDS, tmp_path / "pool", engine="pool", workers=2)
    job = CountingJob(log=str(tmp_path / "r.log"))
    summary = run_jobs(job, IDS, tmp_path / "ray", engine="ray", workers=2)
    assert summary.complete and summary.done == len(IDS)
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "serial") == _tree(tmp_path / "pool")
    assert len(_tree(tmp_path / "ray")) == len(IDS)
    assert len((tmp_path / "r.log.setup").read_text().split()) == 2  # one setup per actor
    assert done_counts(tmp_path / "r.log") == {s: 1 for s in IDS}
    assert ray.is_initialized()  # a cluster the caller connected to stays connected


def test_an_actor_killed_mid_run_loses_nothing(ray_cluster, tmp_path):
    killed = []

    def kill_an_actor(result):
        if not killed:  # after the first slide: kill a busy actor; Ray restarts it and retries its slide
            names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                     if a["name"].startswith(ACTOR_PREFIX)]
            ray.kill(ray.get_actor(names[0]), no_restart=False)
            killed.append(names[0])

    job = CountingJob(log=str(tmp_path / "log"), seconds=0.2)
    summary = run_jobs(job, IDS, tmp_path / "out", engine="ray", workers=2, progress=kill_an_actor)
    assert killed and summary.complete and summary.done == len(IDS)
    counts = done_counts(tmp_path / "log")
    assert set(counts) == set(IDS) and all((tmp_path / "out" / f"{s}.out").exists() for s in IDS)
    assert len((tmp_path / "log.setup").read_text().split()) == 3  # the killed actor ran setup again
    assert not list(ledger_folder(tmp_path / "out", job.name).glob("*.lock"))


def test_an_actor_process_dying_mid_slide_is_retried(ray_cluster, tmp_path):
    victim = IDS[5]
    job = CountingJob(log=str(tmp_path / "log"), die_once=frozenset({victim}))
    summary = run_jobs(job, IDS, tmp_path / "out", engine="ray", workers=2)
    assert summary.complete and (tmp_path / f"log.died.{victim}").exists()
    assert done_counts(tmp_path / "log") == {s: 1 for s in IDS}


def test_ray_skip_errors_records_the_bad_slide(ray_cluster, tmp_path):
    bad = IDS[1]
    job = CountingJob(log=str(tmp_path / "log"), bad=frozenset({bad}))
    summary = run_jobs(job, IDS, tmp_path / "out", engine="ray", workers=2, skip_errors=True)
    assert (summary.done, summary.failed) == (len(IDS) - 1, 1)
    assert summary.failures == ((bad, f"{bad}.svs: planted bad slide"),)


def test_explain_on_ray_writes_the_serial_bytes(ray_cluster, tmp_path):
    """A real job on bags big enough for torch to split its sums over threads: the actors must use the
    driver's threads (Ray would give each OMP_NUM_THREADS=1, and other float sums)."""
    from core.bench.scheduling import explain_workload

    job, ids = explain_workload(tmp_path / "in", n_slides=3, n_patches=1500, methods=("attention", "gradient"))
    run_jobs(job, ids, tmp_path / "serial", engine="serial")
    summary = run_jobs(job, ids, tmp_path / "ray", engine="ray", workers=2)
    assert summary.complete
    serial = {p.name: p.read_bytes() for p in sorted((tmp_path / "serial").glob("*.evidence.h5"))}
    assert len(serial) == 3
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "ray").glob("*.evidence.h5"))} == serial


def test_ray_redoes_a_slide_whose_input_was_rewritten_and_only_it(ray_cluster, tmp_path):
    inputs = write_inputs(tmp_path / "in", IDS[:4])
    job = InputJob(log=str(tmp_path / "log"), inputs=str(inputs))
    out = tmp_path / "out"
    assert run_jobs(job, IDS[:4], out, engine="ray", workers=2).done == 4
    before = {p.name: p.read_bytes() for p in out.glob("*.out")}
    rewrite_input(inputs, IDS[1], "v2")
    summary = run_jobs(job, IDS[:4], out, engine="ray", workers=2)
    assert (summary.done, summary.already_done) == (1, 3)
    after = {p.name: p.read_bytes() for p in out.glob("*.out")}
    assert [n for n in before if before[n] != after[n]] == [f"{IDS[1]}.out"]
    assert done_counts(tmp_path / "log") == {s: 2 if s == IDS[1] else 1 for s in IDS[:4]}
