"""One slide, as every engine does it in its worker: claim in the ledger, run the job, record the outcome."""

from __future__ import annotations

import time
import traceback
from typing import NamedTuple

from core.errors import as_evident_error
from core.schedule.job import SlideJob
from core.schedule.ledger import Ledger

__all__ = ["SlideResult", "do_slide", "error_text"]


class SlideResult(NamedTuple):
    """What happened to one slide in this run.

    ``status``: ``"done"`` (done now), ``"already_done"`` (recorded done before), ``"failed"``
    (``error`` says why, in one line), ``"busy"`` (another live run holds it; ``error`` names it).
    ``seconds``: wall time of the job's ``run``.
    """

    slide_id: str
    status: str
    error: str | None = None
    seconds: float = 0.0


def error_text(exc: BaseException) -> str:
    """One line for the ledger and the terminal: an :class:`~core.errors.EvidentError`'s own text
    (``path: problem``), else ``Type: message``."""
    known = as_evident_error(exc)
    if known is not None:
        return str(known)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def do_slide(job: SlideJob, state: object, ledger: Ledger, slide_id: str, input_key: str | None = None) -> SlideResult:
    """Claim ``slide_id``, run ``job`` on it and record done / failed; a busy or done slide is left alone.

    ``input_key``: the slide's :func:`core.schedule.job.job_input_key`, computed by the driver
    before the run (so that every engine records the same key, and an input changed while the slide
    runs is seen by the next run); a record with another key is not done. While the job runs, the
    slide's lock is refreshed (:meth:`Ledger.holding`). An ``Exception`` from the job is recorded as
    the slide's failure (text and traceback); anything else (Ctrl-C, ``SystemExit``) releases the
    lock, so a rerun does the slide, and propagates.
    """
    claim = ledger.claim(slide_id, input_key)
    if claim.kind == "done":
        return SlideResult(slide_id, "already_done")
    if claim.kind == "busy":
        return SlideResult(slide_id, "busy", claim.holder)
    t0 = time.perf_counter()
    try:
        with ledger.holding(slide_id):
            job.run(state, slide_id, ledger.out_dir)
    except Exception as exc:
        text, seconds = error_text(exc), time.perf_counter() - t0
        ledger.finish(slide_id, "failed", text, seconds, detail=traceback.format_exc(), input_key=input_key)
        return SlideResult(slide_id, "failed", text, seconds)
    except BaseException:
        ledger.release(slide_id)
        raise
    seconds = time.perf_counter() - t0
    ledger.finish(slide_id, "done", None, seconds, input_key=input_key)
    return SlideResult(slide_id, "done", None, seconds)
