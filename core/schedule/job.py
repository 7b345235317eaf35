"""The interface of a per-slide job that :func:`core.schedule.run_jobs` runs (docs/scheduler.md).

A job is one frozen, picklable object for a whole run: the settings and how to find each slide's
input. The scheduler sends it to every worker once (a process of the local pool, a Ray actor),
calls :meth:`SlideJob.setup` there once, then :meth:`SlideJob.run` for each slide it hands that
worker.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["SlideJob", "job_settings_key"]


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
    """

    @property
    def name(self) -> str: ...

    def setup(self) -> object: ...

    def run(self, state: object, slide_id: str, out_dir: Path) -> None: ...


def job_settings_key(job: SlideJob) -> str:
    """16 hex digits of the sha256 of ``repr(job)``: the settings a ledger record was made under."""
    return hashlib.sha256(repr(job).encode("utf-8", "surrogatepass")).hexdigest()[:16]
