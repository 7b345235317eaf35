"""The interface of a per-slide job that :func:`core.schedule.run_jobs` runs (docs/scheduler.md).

A job is one frozen, picklable object for a whole run: the settings and how to find each slide's
input. The scheduler sends it to every worker once (a process of the local pool, a Ray actor),
calls :meth:`SlideJob.setup` there once, then :meth:`SlideJob.run` for each slide it hands that
worker.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["SlideJob", "job_settings_key", "job_input_key", "stat_key"]


@runtime_checkable
class SlideJob(Protocol):
    """What the scheduler runs, slide by slide.

    ``name``
        Names the job's ledger folder, ``OUT/.evident/ledger/<name>/``; letters, digits, ``._-``
        keep it readable (anything else is escaped).
    ``setup()``
        Per-worker state, called once per worker before its first slide: load the encoder or the
        model there (and move it to the worker's device), not in ``run``.
    ``run(state, slide_id, out_dir)``
        Does one slide: writes its outputs into ``out_dir`` atomically (:mod:`core.atomic`) and
        raises on failure (an :class:`core.errors.EvidentError` naming the file and the problem).
        It must not depend on which worker runs it or in which order: the outputs of the serial
        loop, the local pool and Ray are the same bytes.

    ``repr(job)`` names the job's settings: the ledger keeps a digest of it with each finished
    slide (:func:`job_settings_key`), and a slide finished under other settings is done again. Keep
    per-slide lookup tables out of the repr (``field(repr=False)``), so that adding slides to a
    cohort does not redo the ones already done.

    ``input_key(slide_id) -> str | None`` (optional; a job without it is resumed by its settings
    alone) names the state of one slide's input files: the ledger keeps it with the slide's record,
    and a slide whose inputs' key differs from the recorded one is done again. It must be cheap (the
    driver calls it once per slide of the run before handing any out), deterministic for unchanged
    inputs, and must not raise for a missing file (:func:`stat_key` writes ``missing`` for it, so
    the slide is done again and fails with the job's own message). ``None``: unknown, the record
    alone decides. See docs/scheduler.md ("Inputs").
    """

    @property
    def name(self) -> str: ...

    def setup(self) -> object: ...

    def run(self, state: object, slide_id: str, out_dir: Path) -> None: ...


def job_settings_key(job: SlideJob) -> str:
    """16 hex digits of the sha256 of ``repr(job)``: the settings a ledger record was made under."""
    return hashlib.sha256(repr(job).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def job_input_key(job: SlideJob, slide_id: str) -> str | None:
    """``job.input_key(slide_id)`` where the job has one, else ``None`` (resumed by its settings only).

    An exception from the job's ``input_key`` gives ``"unreadable: <Type>"``, a key no input has, so
    that the slide is done again (not skipped as done) and its ``run`` reports the problem.
    """
    fn = getattr(job, "input_key", None)
    if fn is None:
        return None
    try:
        key = fn(slide_id)
    except Exception as exc:  # noqa: BLE001 - the slide is done again; its run names the problem
        return f"unreadable: {type(exc).__name__}"
    return None if key is None else str(key)


def stat_key(*paths: str | os.PathLike | None, extra: object = None) -> str:
    """16 hex digits of the sha256 of each file's absolute path, size (bytes) and modification time
    (ns), in order (``None`` entries kept as ``null``; a file that cannot be stat-ed as ``missing``),
    and of ``extra`` (JSON-able, e.g. a per-slide label). One ``stat`` per file, no reading: cheap for
    slides and feature files of gigabytes. A rewritten file gets a new mtime (and usually size); a
    copy that keeps both (``cp -p`` of identical size) is taken as unchanged."""
    parts: list = []
    for p in paths:
        if p is None:
            parts.append(None)
            continue
        path = os.path.abspath(os.fspath(p))
        try:
            st = os.stat(path)
        except OSError:
            parts.append([path, "missing"])
        else:
            parts.append([path, st.st_size, st.st_mtime_ns])
    doc = json.dumps({"files": parts, "extra": extra}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode("utf-8", "surrogatepass")).hexdigest()[:16]
