"""Background work for the viewer: the ONE inference thread (owns the model) with progress and cancel.

A job is a plain callable ``fn(cancel: threading.Event) -> result`` built from Qt-free core code;
it runs on :class:`InferenceThread` one at a time, and its plain-data result comes back to the GUI
thread through a queued signal. Cancelling sets the job's event (the job stops at its next check
and reports :class:`core.review.intervene.Cancelled`). Tiles load elsewhere (core TileLoader).

Signals
-------
started(job_id: int)
finished(job_id: int, result: object)
failed(job_id: int, message: str)
cancelled(job_id: int)
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from core.errors import EvidentError
from core.review.intervene import Cancelled

__all__ = ["InferenceThread"]


class InferenceThread(QThread):
    """Runs submitted jobs in order on one thread; :meth:`stop` ends it."""

    started_job = Signal(int)
    finished_job = Signal(int, object)
    failed_job = Signal(int, str)
    cancelled_job = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._jobs: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._cancel: dict[int, threading.Event] = {}
        self.state: dict[str, Any] = {}  # things the thread owns (the model / predictor)

    def submit(self, fn: Callable[[threading.Event], Any]) -> int:
        """Queue ``fn``; returns its job id (starts the thread on first use)."""
        job_id = next(self._ids)
        self._cancel[job_id] = threading.Event()
        self._jobs.put((job_id, fn))
        if not self.isRunning():
            self.start()
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job, or every pending/running job when ``None``."""
        for jid, ev in list(self._cancel.items()):
            if job_id is None or jid == job_id:
                ev.set()

    def run(self) -> None:  # the thread body
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job_id, fn = item
            ev = self._cancel.get(job_id) or threading.Event()
            if ev.is_set():
                self._cancel.pop(job_id, None)
                self.cancelled_job.emit(job_id)
                continue
            self.started_job.emit(job_id)
            try:
                result = fn(ev)
            except Cancelled:
                self.cancelled_job.emit(job_id)
            except EvidentError as exc:
                self.failed_job.emit(job_id, str(exc))
            except Exception as exc:  # noqa: BLE001 - a job's bug must not kill the thread or the GUI
                self.failed_job.emit(job_id, f"{type(exc).__name__}: {exc}")
            else:
                if ev.is_set():
                    self.cancelled_job.emit(job_id)
                else:
                    self.finished_job.emit(job_id, result)
            finally:
                self._cancel.pop(job_id, None)

    def stop(self) -> None:
        """Cancel everything and end the thread (waits for the current job's next check)."""
        self.cancel()
        if self.isRunning():
            self._jobs.put(None)
            self.wait()
