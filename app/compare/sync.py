"""Keep several slide views on the same centre and zoom (QuPath-style synchronised viewers).

The views share ONE :class:`core.review.camera.Camera` (centre in level-0 px, zoom in screen px per
level-0 px) while locked: a navigation in any pane moves the shared camera, and every pane follows
it at its own size, so panes of different sizes show the same place at the same magnification. No
range is copied between views and no re-entrancy guard is needed: a view skips the camera change it
caused itself, and setting a camera to where it already is emits nothing.

Unlocking gives every view back its own camera, starting where the shared one was; re-locking
moves the shared camera to the view that was navigated last and makes every view follow it again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from core.review.camera import Camera

__all__ = ["CameraLink"]


class CameraLink(QObject):
    """Lock :class:`app.viewer.slide_view.SlideView` instances onto :attr:`camera` (``locked`` by default)."""

    def __init__(self, views=(), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.camera = Camera()  # the shared one
        self.views: list = []
        self.locked = True
        self._own: dict = {}  # view -> (its own camera, followed while unlocked; our listener on it)
        self._last = None  # the view navigated last while unlocked
        for v in views:
            self.add(v)

    def add(self, view) -> None:
        """Link ``view``: while locked it follows the shared camera (the first view gives it its place,
        later ones take it)."""
        own = view.camera
        self.views.append(view)
        self._own[view] = (own, own.changed.connect(lambda source, v=view: self._own_changed(v, source)))
        if self.locked:
            view.set_camera(self.camera)
            self._shared_by_all()

    def remove(self, view) -> None:
        """Unlink ``view`` (it keeps following whichever camera it has until it shuts down)."""
        if view in self.views:
            self.views.remove(view)
            own, listener = self._own.pop(view)
            own.changed.disconnect(listener)
            if self._last is view:
                self._last = None

    def _shared_by_all(self) -> None:
        """Several views on one camera: none refits on its own at a resize (each would fit its own
        size and drag the others' zoom with it); they keep the shared camera."""
        if len(self.views) > 1:
            for v in self.views:
                v.stop_fitting()

    def _own_changed(self, view, source) -> None:
        if source is not self:  # a navigation in ``view`` while unlocked
            self._last = view

    def set_locked(self, locked: bool) -> None:
        """Lock (every view follows the shared camera, moved to the last navigated view) or unlock
        (every view follows its own camera, from where the shared one is)."""
        locked = bool(locked)
        if locked == self.locked:
            return
        self.locked = locked
        shared = self.camera
        if locked:
            if self._last is not None:
                src = self._own[self._last][0]
                shared.set(src.centre, src.scale, source=self)
            for v in self.views:
                v.set_camera(shared)
            self._shared_by_all()
        else:
            self._last = None
            for v in self.views:
                own = self._own[v][0]
                if shared.is_set:
                    own.set(shared.centre, shared.scale, source=self)
                v.set_camera(own)
