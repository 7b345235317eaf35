"""The viewer opens and says what is wrong with files that used to end `evident view` with a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

sys.path.insert(0, str(Path(__file__).parents[1] / "badinput"))
from corpus import huge_bag  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))


def _nan_geojson(path: Path) -> Path:
    square = [[0, 0], [500, 0], [500, 500], [0, 500], [0, 0]]
    text = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [square]}}]})
    path.write_text(text.replace("[500, 0]", "[NaN, 0]", 1), encoding="utf-8")
    return path


def _painted(window) -> bool:
    img = window.grab().toImage()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8)[: img.sizeInBytes()]
    return img.width() > 0 and arr.std() > 0  # something was drawn, not a blank or frozen surface


def test_a_huge_bag_and_a_nan_geojson_are_reported_in_the_window(window, demo_project, tmp_path, qtbot):
    s = window.session
    _drop(window, [demo_project["slide"]])
    qtbot.waitUntil(lambda: window.view.reader is s.slide and s.slide is not None, timeout=5000)
    stem = demo_project["slide"].stem
    bag = huge_bag(tmp_path / f"{stem}.h5")
    _drop(window, [bag])
    qtbot.waitUntil(lambda: "memory budget" in window.status_text.text(), timeout=5000)
    assert str(bag) in window.status_text.text() and s.slide is not None and s.bag is None
    ann = _nan_geojson(tmp_path / f"{stem}.geojson")
    _drop(window, [ann])
    qtbot.waitUntil(lambda: "non-finite" in window.status_text.text(), timeout=5000)
    assert str(ann) in window.status_text.text() and s.slide is not None
    _drop(window, [demo_project["features"]])  # the window still works: the real bag opens
    qtbot.waitUntil(lambda: s.bag is not None, timeout=5000)
    assert _painted(window)


def test_evident_view_on_such_files_opens_the_window_and_exits_cleanly(tmp_path):
    bag = huge_bag(tmp_path / "huge.h5")
    ann = _nan_geojson(tmp_path / "ann.geojson")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    for path in (bag, ann):
        proc = subprocess.run([sys.executable, "-m", "core.cli", "view", str(path), "--exit-after", "300"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_evident_view_on_an_over_long_name_opens_the_window_and_says_so(tmp_path):
    long_name = tmp_path / ("a" * 300 + ".svs")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "core.cli", "view", str(long_name), "--exit-after", "300"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_an_over_long_name_is_reported_in_the_window(window, tmp_path):
    long_name = tmp_path / ("a" * 300 + ".svs")
    window.open_paths([long_name])
    shown = [window.info_panel.messages.item(i).text() for i in range(window.info_panel.messages.count())]
    assert any("File name too long" in m and str(long_name) in m for m in shown), shown
