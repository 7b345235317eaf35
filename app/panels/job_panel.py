"""Base of the panels that run model work on the inference thread and follow the session.

A :class:`JobPanel` uses the :class:`app.jobs.InferenceThread` it is given (shared with the other
docks) or starts its own; :meth:`link` connects session signals so that :meth:`shutdown` can
disconnect them again and stop an own thread.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

__all__ = ["JobPanel"]


class JobPanel(QWidget):
    """``session``: the :class:`core.review.session.ReviewSession` façade; ``thread``: a shared
    inference thread, or ``None`` to own one."""

    def __init__(self, session, parent: QWidget | None = None, *, thread=None) -> None:
        super().__init__(parent)
        from app.jobs import InferenceThread

        self.session = session
        self.own_thread = thread is None
        self.thread = thread or InferenceThread(self)
        self._links: list = []

    def link(self, *pairs) -> None:
        """Connect each ``(signal, slot)`` pair, remembered for :meth:`shutdown`."""
        for signal, slot in pairs:
            signal.connect(slot)
            self._links.append((signal, slot))

    def shutdown(self) -> None:
        """Disconnect the linked session signals and stop the thread if this panel owns it."""
        for signal, slot in self._links:
            signal.disconnect(slot)
        self._links = []
        if self.own_thread:
            self.thread.stop()
