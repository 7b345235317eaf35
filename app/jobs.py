"""Background work for the viewer: the ONE inference thread (owns the model) with progress and cancel.

The window's builder (:func:`app.window_builder.build_main_window`) creates the thread once and
gives it to every panel that runs model work; the window stops it when it closes.

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

from PySide6.QtCore import QObject, QThread, Signal

from core.errors import EvidentError
from core.review.intervene import Cancelled

__all__ = ["InferenceThread", "BackgroundCall"]


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
        self._running: int | None = None  # the job the thread is inside (between started_job and its end)
        self._stopping = False
        self.finished.connect(self._ended)  # QThread.finished: delivered on the GUI thread

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
            self._running = job_id
            try:
                result = fn(ev)
            except Cancelled:
                self.cancelled_job.emit(job_id)
            except EvidentError as exc:
                self.failed_job.emit(job_id, str(exc))
            except Exception as exc:  # noqa: BLE001 - a job's bug must not kill the thread or the GUI
                self.failed_job.emit(job_id, f"{type(exc).__name__}: {exc}")
            except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt raised inside a job (a
                # model calling sys.exit) would end this thread and leave the job pending forever: report it
                self.failed_job.emit(job_id, f"the job was stopped ({type(exc).__name__}: {exc}); "
                                             "the inference thread goes on")
            else:
                if ev.is_set():
                    self.cancelled_job.emit(job_id)
                else:
                    self.finished_job.emit(job_id, result)
            finally:
                self._running = None
                self._cancel.pop(job_id, None)

    def _ended(self) -> None:
        """The thread body ended. Unless :meth:`stop` ended it, it died inside a job (killed, or a
        fault no ``except`` sees): that job is reported as failed instead of staying pending forever,
        and the thread starts again for the jobs still queued (a later :meth:`submit` starts it too)."""
        job, self._running = self._running, None
        if self._stopping:
            return
        if job is not None:
            self._cancel.pop(job, None)
            self.failed_job.emit(job, "the inference thread ended during this job; it starts again with the next one")
        if not self._jobs.empty():
            self.start()

    def stop(self) -> None:
        """Cancel everything and end the thread (waits for the current job's next check)."""
        self._stopping = True
        self.cancel()
        if self.isRunning():
            self._jobs.put(None)
            self.wait()


class BackgroundCall(QObject):
    """One plain call ``fn()`` on its own Python thread (not the inference thread), e.g. tissue
    detection; its result or error comes back to the GUI thread through a queued signal.

    Signals: ``finished(result: object)``, ``failed(message: str)``. :meth:`wait` joins the thread
    (the window does so before closing the slide the call reads).
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], parent=None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name="evident-background", daemon=True)

    def start(self) -> BackgroundCall:
        self._thread.start()
        return self

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the thread; True when it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            result = self._fn()
        except EvidentError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - reported in the status bar, never kills the GUI
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.finished.emit(result)
