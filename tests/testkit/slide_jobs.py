"""Fast fake per-slide jobs for the scheduler tests (core.schedule): side effects that can be counted.

:class:`CountingJob` writes ``OUT/<slide>.out`` atomically (bytes that depend on the slide id
only) and appends ``<slide>\\n`` to a log file with one ``O_APPEND`` write (atomic for short lines),
so a test counts how often each slide was done; ``setup`` appends ``<pid>\\n`` to ``<log>.setup``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from core.atomic import atomic_path
from core.errors import EvidentError


def append_line(path: str | os.PathLike, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{text}\n".encode())
    finally:
        os.close(fd)


def slide_bytes(slide_id: str) -> bytes:
    """What :class:`CountingJob` writes for ``slide_id``: 4 KiB derived from its id."""
    return hashlib.sha256(slide_id.encode()).digest() * 128


@dataclass(frozen=True)
class CountingJob:
    """``log``: the side-effect log; ``seconds``: sleep per slide; ``bad``: slides that raise an
    EvidentError; ``die_once``: slides whose first attempt kills its own worker process (SIGKILL),
    remembered by a marker file ``<log>.died.<slide>``."""

    log: str
    seconds: float = 0.0
    bad: frozenset = frozenset()
    die_once: frozenset = frozenset()
    tag: str = "counting"

    @property
    def name(self) -> str:
        return self.tag

    def setup(self) -> object:
        append_line(f"{self.log}.setup", str(os.getpid()))
        return {"pid": os.getpid()}

    def run(self, state: object, slide_id: str, out_dir: Path) -> None:
        if slide_id in self.die_once:
            marker = Path(f"{self.log}.died.{slide_id}")
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        if self.seconds:
            time.sleep(self.seconds)
        if slide_id in self.bad:
            raise EvidentError(f"{slide_id}.svs", "planted bad slide")
        with atomic_path(Path(out_dir) / f"{slide_id}.out") as tmp:
            tmp.write_bytes(slide_bytes(slide_id))
        append_line(self.log, slide_id)


def done_counts(log: str | os.PathLike) -> dict[str, int]:
    """How many times each slide's side effect happened, from the job's log."""
    counts: dict[str, int] = {}
    p = Path(log)
    if p.exists():
        for line in p.read_text().splitlines():
            if line:
                counts[line] = counts.get(line, 0) + 1
    return counts


def counting_run_command(out: str | os.PathLike, log: str | os.PathLike, n: int, engine: str, workers: int,
                         seconds: float = 0.0, inputs: str | os.PathLike | None = None) -> list[str]:
    """``python -c ...`` that runs :class:`CountingJob` (:class:`InputJob` on the folder ``inputs``
    when given) on ``slide-00000`` .. over ``n`` slides with ``run_jobs`` and prints the summary as
    JSON (for runs in their own process, to kill or race)."""
    import sys

    job = (f"CountingJob(log={str(log)!r}, seconds={seconds!r})" if inputs is None else
           f"InputJob(log={str(log)!r}, seconds={seconds!r}, inputs={str(inputs)!r})")
    code = ("import json, sys; from core.schedule import run_jobs; "
            "from testkit.slide_jobs import CountingJob, InputJob; "
            f"s = run_jobs({job}, "
            f"[f'slide-{{i:05d}}' for i in range({n})], {str(out)!r}, engine={engine!r}, workers={workers}); "
            "print(json.dumps(s._asdict()))")
    return [sys.executable, "-c", code]


def subprocess_env() -> dict[str, str]:
    """The environment with this checkout and ``tests/`` on ``PYTHONPATH`` (for ``testkit`` in children)."""
    here = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(here.parent), str(here), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@dataclass(frozen=True)
class InputJob(CountingJob):
    """A :class:`CountingJob` whose slides have input files ``<inputs>/<slide>.in``: ``OUT/<slide>.out``
    is the sha256 of that file's content, and ``input_key`` is its :func:`core.schedule.job.stat_key`."""

    inputs: str = ""
    tag: str = "inputs"

    def input_key(self, slide_id: str) -> str:
        from core.schedule.job import stat_key

        return stat_key(Path(self.inputs) / f"{slide_id}.in")

    def run(self, state: object, slide_id: str, out_dir: Path) -> None:
        if self.seconds:
            time.sleep(self.seconds)
        data = (Path(self.inputs) / f"{slide_id}.in").read_bytes()
        with atomic_path(Path(out_dir) / f"{slide_id}.out") as tmp:
            tmp.write_bytes(hashlib.sha256(data).digest())
        append_line(self.log, slide_id)


def write_inputs(folder: str | os.PathLike, slide_ids, text: str = "v1") -> Path:
    """``<folder>/<slide>.in`` holding ``<text> <slide>`` for each slide (the inputs of :class:`InputJob`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for s in slide_ids:
        (folder / f"{s}.in").write_text(f"{text} {s}")
    return folder


def rewrite_input(folder: str | os.PathLike, slide_id: str, text: str) -> None:
    """Give ``slide_id``'s input new content and a modification time 1 s later than before (so the
    change shows even on file systems with coarse time stamps)."""
    p = Path(folder) / f"{slide_id}.in"
    before = p.stat().st_mtime_ns
    p.write_text(f"{text} {slide_id}")
    os.utime(p, ns=(before + 10**9, before + 10**9))
