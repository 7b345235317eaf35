"""Where a slide view looks: a Qt-free camera (centre and zoom) that views follow.

Like napari's ``Camera``: the view state is plain data outside the widgets. ``centre`` is the point
shown in the middle of the view, in level-0 px ``(x, y)`` (y down); ``scale`` is the zoom in screen
px per level-0 px (1.0 = 1:1, 0.25 = a quarter). A view writes its camera when the user navigates
and follows it when anything else changes it, so several views that share one camera (the compare
window's locked panes) show the same place at the same magnification whatever their sizes, without
copying ranges between them. See docs/architecture.md ("GUI composition").

Signals
-------
changed(source)
    After the centre or the zoom changed; ``source`` is whatever :meth:`Camera.set` was given
    (the view that navigated, so it can skip its own echo), ``None`` by default.
"""

from __future__ import annotations

import math

from core.review.signals import Signal

__all__ = ["Camera"]


class Camera:
    """Centre ``(x, y)`` in level-0 px and ``scale`` in screen px per level-0 px.

    ``is_set`` is False until the first :meth:`set` (a new camera has no place yet: a view that
    starts following it gives it its own).
    """

    def __init__(self) -> None:
        self.changed = Signal()
        self._centre = (0.0, 0.0)
        self._scale = 1.0
        self.is_set = False

    @property
    def centre(self) -> tuple[float, float]:
        """Level-0 px ``(x, y)`` shown in the middle of the view."""
        return self._centre

    @property
    def scale(self) -> float:
        """Screen px per level-0 px."""
        return self._scale

    def set(self, centre: tuple[float, float] | None = None, scale: float | None = None, *,
            source: object = None) -> bool:
        """Move to ``centre`` and/or zoom to ``scale`` (``None`` keeps it); emits ``changed(source)``
        and returns True when something changed by more than a millionth of a screen pixel.

        Raises ``ValueError`` for a non-finite centre or a scale that is not a positive finite number.
        """
        cx, cy = (float(centre[0]), float(centre[1])) if centre is not None else self._centre
        s = float(scale) if scale is not None else self._scale
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise ValueError(f"camera centre must be finite, got ({cx}, {cy})")
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"camera scale must be a positive number of screen px per level-0 px, got {s}")
        tol = 1e-6 / s  # a millionth of a screen pixel, in level-0 px
        same = (self.is_set and math.isclose(s, self._scale, rel_tol=1e-9)
                and abs(cx - self._centre[0]) <= tol and abs(cy - self._centre[1]) <= tol)
        if same:
            return False
        self._centre, self._scale, self.is_set = (cx, cy), s, True
        self.changed.emit(source)
        return True

    def viewport(self, width: float, height: float) -> tuple[float, float, float, float]:
        """The level-0 rectangle ``(x0, y0, x1, y1)`` a view of ``width`` x ``height`` screen px shows."""
        w, h = max(float(width), 1.0) / self._scale, max(float(height), 1.0) / self._scale
        cx, cy = self._centre
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    def __repr__(self) -> str:
        return f"Camera(centre=({self._centre[0]:.1f}, {self._centre[1]:.1f}), scale={self._scale:.4g})"
