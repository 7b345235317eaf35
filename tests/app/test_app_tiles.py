"""Tile uploads are time-boxed per event-loop pass; tile workers yield the CPU to the GUI thread."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from core.slide.tiling import TileKey


def _filled_view(window, demo_project, qtbot):
    window.open_paths([demo_project["slide"]])
    tiles = window.view.tiles
    qtbot.waitUntil(window.view.is_filled, timeout=15000)
    return tiles


def test_place_some_uploads_at_most_max_tiles_wanted_first_and_at_least_one(window, demo_project, qtbot):
    tiles = _filled_view(window, demo_project, qtbot)
    tiles._drain.stop()
    level = tiles.reader.level_count - 1
    for key in list(tiles.items):  # make room: forget what is drawn at the coarsest level
        if key.level == level:
            window.view.view_box.removeItem(tiles.items.pop(key))
    keys = [TileKey(level, c, r) for r in range(2) for c in range(2)]
    tiles._keep_rect = None
    tiles._wanted = {keys[3]}
    for k in keys:
        tiles._pending[k] = np.zeros((8, 8, 4), np.uint8)
    assert tiles._place_some(max_tiles=2, budget_s=10.0) == 2
    assert keys[3] in tiles.items  # the visible tile first
    assert tiles._place_some(max_tiles=5, budget_s=0.0) == 1  # an exhausted budget still places one
    assert len(tiles._pending) == 1 and tiles._drain.isActive()  # the rest waits for the next pass
    assert tiles._place_some() == 1 and not tiles._pending


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_tile_workers_run_nicer_than_the_gui_thread(window, demo_project, qtbot):
    from app.viewer.tile_layer import WORKER_NICE

    gui_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    tiles = _filled_view(window, demo_project, qtbot)
    workers = [t for t in tiles.loader._threads if t.native_id is not None]
    niced = [os.getpriority(os.PRIO_PROCESS, t.native_id) for t in workers]
    # every worker that delivered a tile lowered its priority; at least one delivered
    assert max(niced) == min(gui_nice + WORKER_NICE, 19)
    assert all(n in (gui_nice, min(gui_nice + WORKER_NICE, 19)) for n in niced)
    # cached tiles are delivered on the GUI thread: its priority never changes
    window.view.zoom(1.5)
    window.view.zoom(1 / 1.5)
    qtbot.waitUntil(window.view.is_filled, timeout=15000)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == gui_nice
