"""A minimal Qt-free signal: ``connect`` callbacks, ``emit`` calls them in order.

The review session (Qt-free) announces its changes with these; the GUI connects its slots. Emitting
happens on the caller's thread: the GUI only writes to the session on the GUI thread, so the slots
run there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Signal"]


class Signal:
    """A list of callbacks called with the emitted arguments.

    A callback that raises does not stop the others; the first exception is re-raised after all
    callbacks ran, so a bug in one listener is never silently swallowed.
    """

    def __init__(self) -> None:
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``slot`` (once); returns it so ``connect`` works as a decorator."""
        if slot not in self._slots:
            self._slots.append(slot)
        return slot

    def disconnect(self, slot: Callable[..., Any] | None = None) -> None:
        """Remove ``slot``, or every slot when ``None``; unknown slots are ignored."""
        if slot is None:
            self._slots.clear()
        elif slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        """Call every slot with ``args``."""
        error: BaseException | None = None
        for slot in list(self._slots):
            try:
                slot(*args)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                error = error or exc
        if error is not None:
            raise error

    def __len__(self) -> int:
        return len(self._slots)
