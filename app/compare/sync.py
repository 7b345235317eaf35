"""Keep several slide views on the same centre and zoom (QuPath-style synchronised viewers).

A range change in one view is copied to the others as (centre, screen px per level-0 px), so
panes of different sizes still show the same place at the same magnification. A re-entrancy guard
stops the copies from echoing back. Unlocking stops the copying; re-locking aligns everything to
the view that was changed last.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

__all__ = ["ViewSync"]


class ViewSync(QObject):
    """Synchronise :class:`app.viewer.slide_view.SlideView` instances (``locked`` by default)."""

    def __init__(self, views=(), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.views: list = []
        self.locked = True
        self._busy = False
        self._last = None
        for v in views:
            self.add(v)

    def add(self, view) -> None:
        """Follow ``view`` (its ViewBox range changes are copied to the others)."""
        self.views.append(view)
        view.view_box.sigRangeChanged.connect(lambda *_, v=view: self._changed(v))

    def remove(self, view) -> None:
        if view in self.views:
            self.views.remove(view)
            if self._last is view:
                self._last = None

    def set_locked(self, locked: bool) -> None:
        """Lock (align every view to the last changed one) or unlock the views."""
        self.locked = bool(locked)
        if self.locked and self._last is not None:
            self._copy_from(self._last)

    def _changed(self, source) -> None:
        if self._busy or source.is_resizing():  # a resize is not a navigation: the view restores its zoom
            return
        self._last = source
        if self.locked:
            self._copy_from(source)

    def _copy_from(self, source) -> None:
        x0, y0, x1, y1 = source.viewport()
        centre, scale = ((x0 + x1) / 2.0, (y0 + y1) / 2.0), source.scale()
        self._busy = True
        try:
            for v in self.views:
                if v is not source:
                    v.set_scale(scale, centre)
        finally:
            self._busy = False
