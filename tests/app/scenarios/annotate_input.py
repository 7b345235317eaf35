"""Real input for the annotation scenarios: clicks on the slide view, screen ↔ level-0 points, and
what is painted along an outline; the ``annotating`` fixture lives in conftest.py."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from .driver import screen_to_level0

TUMOR = (200, 0, 0)
HIGHLIGHT = (255, 220, 0)


def to_level0(view, i: float, j: float) -> tuple[float, float]:
    ax, ay, sx, sy = screen_to_level0(view)
    return ax + (i + 0.5) * sx, ay + (j + 0.5) * sy


def colour_share(img: np.ndarray, pts, color, tol: int = 40) -> float:
    """Share of screen points ``pts`` ((K, 2) i, j) where a pixel within 2 px has ``color``."""
    hits = 0
    for i, j in np.asarray(pts, int):
        patch = img[max(j - 2, 0):j + 3, max(i - 2, 0):i + 3].astype(int)
        hits += bool((np.abs(patch - np.array(color)).max(axis=2) <= tol).any())
    return hits / len(pts)


def edge_points(i0, j0, i1, j1, n=12):
    t = np.linspace(0.1, 0.9, n)
    return np.concatenate([np.c_[i0 + t * (i1 - i0), np.full(n, j0)], np.c_[i0 + t * (i1 - i0), np.full(n, j1)],
                           np.c_[np.full(n, i0), j0 + t * (j1 - j0)], np.c_[np.full(n, i1), j0 + t * (j1 - j0)]])


def vp_click(view, qtbot, at, button=Qt.MouseButton.LeftButton, mods=Qt.KeyboardModifier.NoModifier, double=False):
    """A click on the viewport; ``double``: what a window system delivers for a double click (press,
    release, double-click in place of the second press, release), as QMouseEvents through Qt."""
    vp = view.graphics.viewport()
    QTest.mouseMove(vp, QPoint(*at))  # a hand moves to the place first (pyqtgraph routes clicks by hover)
    qtbot.wait(25)
    if not double:
        QTest.mouseClick(vp, button, mods, QPoint(*at))
    else:
        from PySide6.QtCore import QEvent, QPointF
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        pos = QPointF(*at)
        for kind, held in ((QEvent.Type.MouseButtonPress, button), (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton),
                           (QEvent.Type.MouseButtonDblClick, button), (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
            QApplication.sendEvent(vp, QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, held, mods))
            qtbot.wait(5)
    qtbot.wait(30)
