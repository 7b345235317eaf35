"""The main window: opening every kind of file by drop, tiles without blocking, errors, shutdown."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from core.errors import EvidentError


def _drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    window.dropEvent(ev)
    return ev


def test_drop_each_kind_one_after_another(window, demo_project, demo_checkpoint, qtbot):
    s = window.session
    _drop(window, [demo_project["slide"]])
    assert s.slide is not None and window.view.reader is s.slide and s.bag is None
    _drop(window, [demo_project["features"]])
    assert s.bag is not None and s.files.slide == demo_project["slide"]
    _drop(window, [demo_project["evidence"]])
    assert "attention" in [x.name for x in s.layers]
    _drop(window, [demo_project["annotations"]])
    assert "regions: Tumor" in [x.name for x in s.layers]
    junk = demo_project["root"] / "model.pt"
    junk.write_bytes(b"not a checkpoint")
    _drop(window, [junk])  # refused at the drop, with the file named, not at the first intervention
    assert s.files.checkpoint is None and "model.pt" in window.status_text.text()
    ck = demo_checkpoint
    _drop(window, [ck])
    assert s.files.checkpoint == ck and s.files.evidence == demo_project["evidence"]
    assert window.windowTitle().endswith(demo_project["slide"].stem)
    assert window.recent_files()[0] == str(ck)


def test_drop_folder_opens_everything_and_tiles_arrive(window, demo_project, qtbot):
    _drop(window, [demo_project["root"]])
    s = window.session
    assert s.slide is not None and s.bag is not None and len(s.layers) >= 5
    tiles = window.view.tiles
    assert tiles.thumbnail is not None  # something is drawn before any tile arrives
    with qtbot.waitSignal(tiles.tile_shown, timeout=10000):
        pass
    qtbot.waitUntil(tiles.is_filled, timeout=10000)
    for key, item in tiles.items.items():
        assert item.zValue() == -key.level and item.image.dtype == np.uint8
    # every visible tile sits at its level-0 rectangle
    key, item = next(iter(tiles.items.items()))
    r = item.mapRectToView(item.boundingRect())
    assert (r.x(), r.y()) == (key.col * 512.0, key.row * 512.0)


def test_navigation_fit_one_to_one_magnification_minimap(window, demo_project, qtbot):
    window.open_paths([demo_project["slide"]])
    v = window.view
    v.one_to_one()
    assert abs(v.scale() - 1.0) < 1e-6
    v.set_magnification(5.0)  # CMU slide is 20x
    assert abs(v.scale() - 0.25) < 1e-6
    v.set_magnification(40.0)
    assert abs(v.scale() - 2.0) < 1e-6
    v.center_on(1000, 1500)
    x0, y0, x1, y1 = v.viewport()
    assert abs((x0 + x1) / 2 - 1000) < 1 and abs((y0 + y1) / 2 - 1500) < 1
    pos = v.minimap.rect().center()
    with qtbot.waitSignal(v.view_changed, timeout=2000):
        qtbot.mouseClick(v.minimap, Qt.MouseButton.LeftButton, pos=pos)
    x0, y0, x1, y1 = v.viewport()
    k = v.minimap.width() / 2220
    assert abs((x0 + x1) / 2 - pos.x() / k) < 1 and abs((y0 + y1) / 2 - pos.y() / k) < 1
    assert v.scale_bar.isVisible() and "µm" in v.scale_bar.label()
    before = v.viewport()
    qtbot.keyClick(v, Qt.Key.Key_Right)
    assert v.viewport()[0] > before[0]
    v.fit()
    assert v.viewport()[2] - v.viewport()[0] >= 2220


def test_corrupt_slide_reports_and_keeps_working(window, demo_project, tmp_path, qtbot):
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"\x00garbage")
    _drop(window, [bad])
    assert "broken.svs" in window.status_text.text()
    assert bad.read_bytes() == b"\x00garbage"
    _drop(window, [demo_project["slide"]])
    assert window.session.slide is not None


class _BadTiles:
    """A reader whose tile (0, 0, 0) cannot be decoded."""

    def __init__(self, reader):
        self._r = reader

    def __getattr__(self, name):
        return getattr(self._r, name)

    def read_region(self, location, level, size):
        if location == (0, 0):
            raise EvidentError(self._r.path, "JPEG tile cannot be decoded")
        return self._r.read_region(location, level, size)


def test_corrupt_tile_placeholder_and_message(window, demo_project, qtbot):
    from core.slide.reader import open_slide

    reader = open_slide(demo_project["slide"])
    with qtbot.waitSignal(window.view.message, timeout=10000) as blocker:
        window.view.set_slide(_BadTiles(reader))
    assert "could not be read" in blocker.args[0]
    qtbot.waitUntil(window.view.is_filled, timeout=10000)
    item = [it for k, it in window.view.tiles.items.items() if (k.col, k.row) == (0, 0)][0]
    assert (item.image[0, 0] == [230, 200, 200, 255]).all()
    window.view.set_slide(None)
    reader.close()


def test_close_stops_every_worker(window, demo_project, qtbot):
    window.open_paths([demo_project["root"]])
    qtbot.waitUntil(window.view.is_filled, timeout=10000)
    window.thread.submit(lambda cancel: 1)
    qtbot.waitUntil(lambda: not window.thread._jobs.qsize(), timeout=5000)
    window.close()
    assert window.view.tiles is None
    assert not window.thread.isRunning()
    assert not [t for t in threading.enumerate() if t.name.startswith("evident-tile")]
    assert window.settings.value("geometry") is not None


def test_pyramid_level_follows_zoom_and_far_tiles_are_evicted(window, qtbot):
    from core.slide.pyramid import large_slide_path
    from core.slide.reader import open_slide

    reader = open_slide(large_slide_path(8192))
    v = window.view
    v.set_slide(reader)
    qtbot.waitUntil(v.is_filled, timeout=10000)
    assert v.tiles.current_level > 0 and all(k.level > 0 for k in v.tiles.items)  # never level 0 zoomed out
    v.one_to_one()
    for x in (1000, 4000, 7000):
        v.center_on(x, 4000)
        qtbot.waitUntil(v.is_filled, timeout=10000)
        assert v.tiles.current_level == 0
    x0, y0, x1, y1 = v.viewport()
    w, h = x1 - x0, y1 - y0
    for _key, item in v.tiles.items.items():  # nothing kept beyond one view from the current one
        r = item.mapRectToView(item.boundingRect())
        assert r.right() >= x0 - w and r.left() <= x1 + w and r.bottom() >= y0 - h and r.top() <= y1 + h
    v.set_slide(None)
    reader.close()
