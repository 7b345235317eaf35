"""Drive a real slide view with real input events and check what it paints against the slide itself.

Shared by the scenario tests (and usable by any GUI test): every function takes the
:class:`app.viewer.slide_view.SlideView` being driven (``window.view`` of a ``MainWindow``, or
``pane.view`` of a Compare pane) and the pytest-qt ``qtbot``.

* input: :func:`wheel` (a ``QWheelEvent`` sent to the view's viewport), :func:`drag`
  (``QTest.mousePress/mouseMove/mouseRelease`` on the viewport), :func:`key` (``QTest.keyClick``);
* :func:`settle`: wait until the view has settled (no coalesced view change pending, no tile queued,
  being read or waiting to be placed, every visible tile of the level on screen placed);
* :func:`grab`: the viewport as painted, ``(h, w, 3)`` uint8 RGB (the HUD widgets are siblings of
  the viewport, so they are not in it);
* :func:`truth`: the same screen pixels read straight from the slide file at the level on screen,
  through core's :class:`core.slide.reader.SlideReader` (its own handle, never the view's), with the
  mask of the screen pixels that lie on the slide;
* :func:`compare_to_truth`: mean absolute difference over the slide area and the fraction of the
  slide area painted blank (the view's background colour) where the slide has tissue.

Coordinates: screen pixels of the viewport (device pixel ratio 1 offscreen); level-0 slide pixels.
Docs: docs/viewer_scenarios.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

__all__ = ["wheel", "drag", "key", "settle", "grab", "truth", "compare_to_truth", "Match", "BACKGROUND",
           "assert_matches_slide"]

BACKGROUND = (245, 245, 245)  # the slide view's background colour (app/viewer/slide_view.py)
_DIFF_BOUND = 6.0  # mean |painted - truth| over the slide area, 0-255 levels (JPEG is decoded the same way)
_BLANK_BOUND = 0.002  # fraction of tissue pixels allowed to be painted as background (tile seams)


def _viewport(view):
    return view.graphics.viewport()


def wheel(view, qtbot, steps: int, at: tuple[int, int] | None = None) -> None:
    """``steps`` wheel notches (positive = zoom in) at viewport pixel ``at`` (default: the centre),
    one ``QWheelEvent`` per notch (angle delta 120) sent to the viewport."""
    vp = _viewport(view)
    x, y = at if at is not None else (vp.width() // 2, vp.height() // 2)
    pos = QPointF(x, y)
    for _ in range(abs(int(steps))):
        ev = QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 if steps > 0 else -120),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                         False)
        QApplication.sendEvent(vp, ev)
        qtbot.wait(1)


MOVE_INTERVAL_MS = 25  # pyqtgraph's scene drops mouse moves closer than 20 ms apart (its rate limit)


def drag(view, qtbot, start: tuple[int, int], end: tuple[int, int], *, steps: int = 8,
         button: Qt.MouseButton = Qt.MouseButton.LeftButton, release: bool = True) -> None:
    """Press at ``start``, move in ``steps`` steps (:data:`MOVE_INTERVAL_MS` apart, as a hand would)
    to ``end``, release unless ``release`` is False (viewport pixels)."""
    vp = _viewport(view)
    QTest.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, QPoint(*start))
    for i in range(1, steps + 1):
        p = QPoint(round(start[0] + (end[0] - start[0]) * i / steps), round(start[1] + (end[1] - start[1]) * i / steps))
        qtbot.wait(MOVE_INTERVAL_MS)
        QTest.mouseMove(vp, p)
    qtbot.wait(1)
    if release:
        QTest.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, QPoint(*end))
        qtbot.wait(1)


def key(widget, qtbot, k: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """One key press and release on ``widget`` (the focus widget when ``widget`` is None)."""
    QTest.keyClick(widget if widget is not None else QApplication.focusWidget(), k, modifier)
    qtbot.wait(1)


def is_settled(view) -> bool:
    """No pending view change, no tile queued / in flight / waiting for placement, view filled."""
    t = view.tiles
    return (t is not None and view.is_filled() and not t._pending and t.loader is not None
            and t.loader.pending == 0)


def settle(view, qtbot, timeout_ms: int = 15000) -> None:
    """Wait until :func:`is_settled`, then one more event-loop pass (the paint)."""
    qtbot.waitUntil(lambda: is_settled(view), timeout=timeout_ms)
    qtbot.wait(1)


def open_focused(window, qtbot, paths) -> object:
    """Open ``paths`` in the main window, wait until the slide and its patch grid are shown and settled,
    then activate the window and focus the view (so key and mouse events reach it); returns the view."""
    window.open_paths(list(paths))
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None and window.session.grid is not None, timeout=10000)
    settle(view, qtbot)
    window.activateWindow()
    qtbot.waitActive(window)
    view.setFocus()
    return view


def grab(view, *, slide_only: bool = False) -> np.ndarray:
    """The viewport as painted now: ``(h, w, 3)`` uint8 RGB. ``slide_only``: with every item other
    than the slide's tiles and thumbnail (overlays, swipe line, selection) hidden for the grab."""
    hidden = []
    if slide_only and view.tiles is not None:
        slide_items = {id(i) for i in view.tiles.items.values()} | {id(view.tiles.thumbnail)}
        hidden = [i for i in view.view_box.addedItems if id(i) not in slide_items and i.isVisible()]
    for i in hidden:
        i.setVisible(False)
    try:
        img = _viewport(view).grab().toImage().convertToFormat(_rgb888())
    finally:
        for i in hidden:
            i.setVisible(True)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    a = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(h, bpl)
    return a[:, : 3 * w].reshape(h, w, 3).copy()


def _rgb888():
    from PySide6.QtGui import QImage

    return QImage.Format.Format_RGB888


def screen_to_level0(view) -> tuple[float, float, float, float]:
    """``(ax, ay, sx, sy)``: viewport pixel ``(i, j)`` centre lies at level-0
    ``(ax + (i + 0.5) * sx, ay + (j + 0.5) * sy)``."""
    g, vb = view.graphics, view.view_box
    p0 = vb.mapSceneToView(g.mapToScene(QPoint(0, 0)))
    p1 = vb.mapSceneToView(g.mapToScene(QPoint(1000, 1000)))
    sx, sy = (p1.x() - p0.x()) / 1000.0, (p1.y() - p0.y()) / 1000.0
    return p0.x(), p0.y(), sx, sy


def truth(view, reader, level: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the viewport should show, read from ``reader`` (a core SlideReader of the same file) at
    ``level`` (default: the level on screen, ``view.tiles.current_level``), sampled at each screen
    pixel's centre (nearest level pixel). Returns ``(rgb (h, w, 3) uint8, on_slide (h, w) bool)``."""
    vp = _viewport(view)
    w, h = vp.width(), vp.height()
    level = view.tiles.current_level if level is None else level
    ds = float(reader.level_downsamples[level])
    lw, lh = reader.level_dimensions[level]
    ax, ay, sx, sy = screen_to_level0(view)
    lx = np.floor((ax + (np.arange(w) + 0.5) * sx) / ds).astype(np.int64)  # level px of each screen column
    ly = np.floor((ay + (np.arange(h) + 0.5) * sy) / ds).astype(np.int64)
    okx, oky = (lx >= 0) & (lx < lw), (ly >= 0) & (ly < lh)
    on_slide = oky[:, None] & okx[None, :]
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = BACKGROUND
    if on_slide.any():
        x0, x1, y0, y1 = lx[okx].min(), lx[okx].max(), ly[oky].min(), ly[oky].max()
        region = reader.read_region((int(round(x0 * ds)), int(round(y0 * ds))), level,
                                    (int(x1 - x0 + 1), int(y1 - y0 + 1)))[..., :3]
        cols, rows = np.flatnonzero(okx), np.flatnonzero(oky)
        rgb[np.ix_(rows, cols)] = region[np.ix_(ly[oky] - y0, lx[okx] - x0)]
    return rgb, on_slide


@dataclass(frozen=True)
class Match:
    """How the painted view compares with the slide (see :func:`compare_to_truth`)."""

    mean_abs_diff: float  # 0-255 levels, mean over the slide area and the 3 channels
    blank_fraction: float  # of the tissue pixels (truth differs from the background), painted as background
    slide_pixels: int  # screen pixels on the slide
    level: int

    def describe(self) -> str:
        return (f"level {self.level}: mean |painted - slide| {self.mean_abs_diff:.2f}, "
                f"{100 * self.blank_fraction:.2f}% of tissue painted blank, {self.slide_pixels} px on the slide")


def compare_to_truth(view, reader, level: int | None = None) -> Match:
    """Grab the slide as painted (overlays hidden, :func:`grab`) and compare it with :func:`truth`
    over the screen pixels on the slide."""
    painted = grab(view, slide_only=True).astype(np.int16)
    level = view.tiles.current_level if level is None else level
    want, on_slide = truth(view, reader, level)
    want = want.astype(np.int16)
    n = int(on_slide.sum())
    if n == 0:
        return Match(0.0, 0.0, 0, level)
    diff = float(np.abs(painted - want)[on_slide].mean())
    bg = np.array(BACKGROUND, np.int16)
    tissue = on_slide & (np.abs(want - bg).max(axis=2) > 24)
    blank = tissue & (np.abs(painted - bg).max(axis=2) <= 1)
    frac = float(blank.sum()) / max(int(tissue.sum()), 1)
    return Match(diff, frac, n, level)


def assert_matches_slide(view, reader, what: str, *, diff_bound: float = _DIFF_BOUND,
                         blank_bound: float = _BLANK_BOUND) -> Match:
    """Assert that the painted view matches the slide (mean difference and no blank tissue)."""
    m = compare_to_truth(view, reader)
    assert m.slide_pixels > 0, f"{what}: the slide is not on screen"
    assert m.blank_fraction <= blank_bound, f"{what}: tissue painted blank — {m.describe()}"
    assert m.mean_abs_diff <= diff_bound, f"{what}: painted view differs from the slide — {m.describe()}"
    return m
