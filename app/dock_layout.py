"""Dock layout of the main window: scrollable dock contents, the saved layout, a geometry that fits.

* :func:`scrollable` wraps a panel in a frameless ``QScrollArea`` so a tall panel scrolls inside
  its dock instead of forcing the window taller than the screen (a dock's minimum height is then
  the scroll area's, not the panel's).
* :func:`save_layout` / :func:`restore_layout` keep the window geometry and the dock state
  (``QMainWindow.saveState`` / ``restoreState``: which docks are shown, tabbed, their sizes) in
  QSettings under ``"geometry"`` and ``"dock_state"``, tagged with :data:`LAYOUT_VERSION`; a state
  saved under another version is ignored (the default layout is used).
* :func:`clamp_to_screen` shrinks and moves a window so that its frame lies on the available
  area of its screen (a geometry saved on a large screen restored on a small one).

See docs/viewer_layout.md for the default layout.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QMainWindow, QScrollArea, QWidget

__all__ = ["LAYOUT_VERSION", "scrollable", "save_layout", "restore_layout", "restore_geometry", "clamp_to_screen",
           "available_area"]

LAYOUT_VERSION = 2  # 1: the unversioned layout before docks were tabbed; bump when the default dock set changes


def scrollable(panel: QWidget) -> QScrollArea:
    """``panel`` inside a frameless, resizable scroll area (the dock's widget)."""
    area = QScrollArea()
    area.setObjectName(f"scroll: {panel.objectName() or type(panel).__name__}")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(panel)
    return area


def save_layout(window: QMainWindow, settings: QSettings) -> None:
    """Store the window geometry and its dock state (versioned) in ``settings``."""
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("dock_state", window.saveState(LAYOUT_VERSION))
    settings.setValue("dock_state_version", LAYOUT_VERSION)


def restore_layout(window: QMainWindow, settings: QSettings) -> bool:
    """Restore the dock state saved by :func:`save_layout`; ``False`` (nothing changed) when there
    is none or it was saved under another :data:`LAYOUT_VERSION`."""
    state = settings.value("dock_state")
    version = settings.value("dock_state_version")
    if state is None or str(version) != str(LAYOUT_VERSION):
        return False
    return bool(window.restoreState(state, LAYOUT_VERSION))


def restore_geometry(window: QMainWindow, settings: QSettings, default: tuple[int, int]) -> None:
    """Restore the saved geometry (else resize to ``default`` (w, h) px), then clamp it to the screen."""
    geometry = settings.value("geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        window.resize(*default)
    clamp_to_screen(window)


def available_area(window: QWidget) -> QRect:
    """The available geometry (px, without task bars) of the screen the window is on."""
    screen = window.screen() or QGuiApplication.screenAt(window.geometry().center()) or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def clamp_to_screen(window: QWidget, area: QRect | None = None) -> None:
    """Shrink ``window`` (not below its minimum size) and move it so its frame lies inside ``area``
    (default: :func:`available_area`). A maximised or full-screen window is left alone."""
    if window.isMaximized() or window.isFullScreen():
        return
    area = area or available_area(window)
    frame, inner = window.frameGeometry(), window.geometry()
    extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()  # title bar, borders
    w = max(min(inner.width(), area.width() - extra_w), window.minimumWidth())
    h = max(min(inner.height(), area.height() - extra_h), window.minimumHeight())
    if (w, h) != (inner.width(), inner.height()):
        window.resize(w, h)
    frame = window.frameGeometry()
    x = min(max(frame.x(), area.left()), max(area.left(), area.right() + 1 - frame.width()))
    y = min(max(frame.y(), area.top()), max(area.top(), area.bottom() + 1 - frame.height()))
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)
