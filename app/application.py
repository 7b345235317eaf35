"""Start the desktop viewer: ``run(files)`` creates the QApplication and the main window.

``exit_after_ms`` (``evident view --exit-after MS`` or the ``EVIDENT_EXIT_AFTER_MS`` environment
variable) closes the window MS milliseconds after its slide view first painted, which stops every
worker (tile pool, inference thread, tissue detection) and ends the application with status 0; the
packaging smoke test starts the frozen app this way.

``run(..., exit_process=True)`` (what ``evident view`` uses) ends the process as soon as the window
has closed: settings are synced, standard streams and logging flushed, then ``os._exit``. The
interpreter's own shutdown (garbage-collecting thousands of Qt/pyqtgraph wrappers, module
teardown) took 2-4 s after the window was gone (measured under Xvfb on the demo slide), during which
the command did not return; the window's ``closeEvent`` had already stopped every worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

__all__ = ["run", "exit_now", "gui_thread_gc", "ExitAfterFirstFrame", "exit_after_from_env", "EXIT_AFTER_ENV"]

_STYLE = Path(__file__).resolve().parents[1] / "resources" / "style" / "evident.qss"
EXIT_AFTER_ENV = "EVIDENT_EXIT_AFTER_MS"


class ExitAfterFirstFrame(QObject):
    """Close ``window`` ``ms`` milliseconds after its slide view's first paint.

    Signals: ``first_frame()`` when the view first painted; ``closing()`` just before the window
    is closed.
    """

    first_frame = Signal()
    closing = Signal()

    def __init__(self, window, ms: int) -> None:
        super().__init__(window)
        if ms < 0:
            raise ValueError("exit-after must be >= 0 ms")
        self.window = window
        self.ms = int(ms)
        self.painted = False
        self._target = window.view.graphics.viewport()
        self._target.installEventFilter(self)

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt naming
        if not self.painted and obj is self._target and ev.type() == QEvent.Type.Paint:
            self.painted = True
            QTimer.singleShot(0, self._armed)  # after this paint has completed
        return False

    def _armed(self) -> None:
        self._target.removeEventFilter(self)
        self.first_frame.emit()
        QTimer.singleShot(self.ms, self._close)

    def _close(self) -> None:
        self.closing.emit()
        self.window.close()


def exit_after_from_env(value: int | None) -> int | None:
    """``value`` if given, else ``EVIDENT_EXIT_AFTER_MS`` as an int (``None`` when unset or empty).

    Raises ``ValueError`` for a value that is not a non-negative integer.
    """
    if value is not None:
        ms = value
    else:
        text = os.environ.get(EXIT_AFTER_ENV, "").strip()
        if not text:
            return None
        try:
            ms = int(text)
        except ValueError:
            raise ValueError(f"{EXIT_AFTER_ENV}={text!r} is not a whole number of milliseconds") from None
    if ms < 0:
        raise ValueError(f"exit-after must be >= 0 ms, got {ms}")
    return ms


def run(files: list[str], exit_after_ms: int | None = None, *, exit_process: bool = False) -> int:
    """Open the viewer on ``files`` (slides, feature/evidence/annotation files, checkpoints or folders).

    ``exit_after_ms``: close the window that many ms after the first frame (see the module doc).
    Returns the application's exit status. Raises :class:`core.errors.EvidentError` naming the
    system packages to install when Qt's Linux window-system plugin cannot load
    (:func:`app.qt_platform.check_qt_platform`).
    ``exit_process``: once the event loop ends, sync the settings, flush and ``os._exit`` with the
    status instead of returning (skips the slow interpreter shutdown; see the module doc).
    """
    from PySide6.QtWidgets import QApplication

    from app.qt_platform import check_qt_platform

    if QApplication.instance() is None:
        check_qt_platform()  # before Qt aborts the process on a missing xcb library
    from app.window_builder import build_main_window

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Evident")
    app.setApplicationName("Evident")
    if _STYLE.is_file():
        app.setStyleSheet(_STYLE.read_text(encoding="utf-8"))
    exit_after_ms = exit_after_from_env(exit_after_ms)
    gc_guard = gui_thread_gc()  # noqa: F841 - held for the event loop's lifetime
    window = build_main_window()  # with the Review menu: compare, gallery, plots, cohort browser, exports, jobs
    if exit_after_ms is not None:
        window.exit_timer = ExitAfterFirstFrame(window, exit_after_ms)
    window.show()
    if files:
        try:
            window.open_paths(files)
        except Exception as exc:  # noqa: BLE001 - the window is up: say what failed there, never a traceback
            from core.errors import describe_failure

            window.show_message(f"error: {describe_failure(exc, files[0] if len(files) == 1 else None)}")
    status = int(app.exec())
    if exit_process:
        exit_now(status, window.settings)
    return status


def gui_thread_gc(interval_s: float = 1.0):
    """Python's cyclic garbage collection moved to the GUI thread (pyqtgraph's ``GarbageCollector``).

    Automatic collection is turned off and a timer on the GUI thread collects instead. Otherwise a
    collection that happens to run on the inference thread can free Qt objects left by the GUI thread
    and deadlock on Qt's lock while the GUI thread waits for the inference thread (seen in the test
    suite; docs/reliability.md). Keep the returned object alive while the event loop runs.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=interval_s)


def exit_now(status: int, *settings) -> None:
    """Sync ``settings`` (QSettings), flush logging and the standard streams, then ``os._exit(status)``."""
    import logging

    for s in settings:
        s.sync()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
