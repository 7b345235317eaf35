"""Slide tiles as pyqtgraph ImageItems in level-0 coordinates, loaded off the GUI thread.

Tiles come from :class:`core.slide.loader.TileLoader` (Qt-free thread pool); each result (plain
numpy) is marshalled to the GUI thread through a queued Qt signal, where an ImageItem is created and
placed with ``setRect`` at the tile's level-0 rectangle. A thumbnail sits under everything and
coarser levels under finer ones (``zValue = -level``), so the view is never blank while finer tiles
arrive. Items far from the view, or finer than needed, are evicted to bound memory. A tile that
cannot be decoded is drawn as a placeholder and reported through :attr:`TileLayer.message`.

GUI-thread budget: arrived tiles are placed at most :data:`DRAIN_MAX_TILES` per event-loop pass and
within :data:`DRAIN_BUDGET_S` of the monotonic clock, so input and paints interleave with uploads;
no tile is read on the GUI thread (except in the ``naive`` benchmark baseline); on Linux the tile
workers lower their own scheduling priority so the GUI thread runs first on a busy machine.

Signals
-------
tile_shown(level: int, col: int, row: int)
    A tile was placed in the view (GUI thread).
message(text: str)
    A problem worth a status-bar line.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal

from core.slide.cache import TileCache
from core.slide.loader import TileLoader
from core.slide.tiling import TileKey, level_for_scale, tile_level_size, tile_rect_level0, tiles_for_viewport

__all__ = ["TileLayer", "DRAIN_MAX_TILES", "DRAIN_BUDGET_S", "WORKER_NICE"]

DRAIN_MAX_TILES = 2  # tiles placed per event-loop pass at most...
DRAIN_BUDGET_S = 0.004  # ...and no more once this much monotonic time has passed (one at least)
WORKER_NICE = 10  # Linux: tile workers run this much nicer than the GUI thread
_worker = threading.local()


def _lower_worker_priority() -> None:
    """Once per tile worker thread (Linux): raise the thread's nice value by :data:`WORKER_NICE`, so
    that on a busy machine the GUI thread is scheduled before tile decoding (measured: pan-frame
    p95 about halved under load). Elsewhere, or when refused, nothing changes."""
    if getattr(_worker, "lowered", False):
        return
    _worker.lowered = True
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE, 19))
        except OSError:
            pass


_THUMB_Z = -1000.0
_PLACEHOLDER = np.array([230, 200, 200, 255], dtype=np.uint8)


class TileLayer(QObject):
    """Draws one slide into a ViewBox; call :meth:`update_view` when the visible range changes."""

    tile_shown = Signal(int, int, int)
    message = Signal(str)
    _arrived = Signal(object, object)
    _failed = Signal(object, str)

    def __init__(self, view_box: pg.ViewBox, reader, *, tile_size: int = 512, workers: int = 4,
                 cache_bytes: int = 512 * 2**20, max_items: int = 400, naive: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.naive = naive  # benchmark baseline: read the visible tiles synchronously on the GUI thread
        self.view_box = view_box
        self.reader = reader
        self.tile_size = tile_size
        self.max_items = max_items
        self.items: dict[TileKey, pg.ImageItem] = {}
        self.current_level = reader.level_count - 1
        self._gui_thread = threading.current_thread()
        self._arrived.connect(self._enqueue, Qt.ConnectionType.QueuedConnection)
        self._pending: dict[TileKey, np.ndarray] = {}
        self._drain = QTimer(self)
        self._drain.setSingleShot(True)
        self._drain.setInterval(0)
        self._drain.timeout.connect(self._place_some)
        self._failed.connect(self._place_failed, Qt.ConnectionType.QueuedConnection)
        self.loader = TileLoader(reader, cache=TileCache(cache_bytes), tile_size=tile_size, workers=workers,
                                 on_tile=self._on_tile, on_error=lambda k, e: self._failed.emit(k, str(e)))
        self.errors: list[str] = []
        self.thumbnail_rgba: np.ndarray | None = None
        self.thumbnail = self._add_thumbnail()
        self._wanted: set[TileKey] = set()
        self._ring: list[TileKey] = []
        self._keep_rect: QRectF | None = None

    def _on_tile(self, key: TileKey, rgba: np.ndarray) -> None:
        """Loader callback (a worker thread, or the GUI thread for cached tiles)."""
        if threading.current_thread() is not self._gui_thread:
            _lower_worker_priority()
        self._arrived.emit(key, rgba)

    def _add_thumbnail(self) -> pg.ImageItem | None:
        w, h = self.reader.dimensions
        try:
            rgb = self._read_overview()
        except Exception as exc:  # noqa: BLE001 - a broken slide still opens, with a message
            why = "not enough memory" if isinstance(exc, MemoryError) else (str(exc) or type(exc).__name__)
            self.errors.append(f"{self.reader.path}: cannot read the thumbnail ({why})")
            return None
        self.thumbnail_rgba = np.ascontiguousarray(rgb)
        item = pg.ImageItem(self.thumbnail_rgba, levels=None, autoLevels=False)
        item.setRect(QRectF(0, 0, w, h))
        item.setZValue(_THUMB_Z)
        self.view_box.addItem(item)
        return item

    def _read_overview(self) -> np.ndarray:
        """The overview image: the finest pyramid level no larger than 1024 px when there is one
        (one cheap read), else a 1024-px thumbnail; (h, w, 3 or 4) uint8."""
        fits = [i for i, (lw, lh) in enumerate(self.reader.level_dimensions) if max(lw, lh) <= 1024]
        if fits and fits[0] > 0:
            level = fits[0]
            return self.reader.read_region((0, 0), level, self.reader.level_dimensions[level])
        return self.reader.get_thumbnail((1024, 1024))

    def update_view(self, viewport: tuple[float, float, float, float], screen_px_per_level0_px: float) -> list[TileKey]:
        """Request the tiles of the right level for ``viewport`` (level-0 px), centre first; evict far items."""
        level = level_for_scale(self.reader.level_downsamples, screen_px_per_level0_px)
        self.current_level = level
        visible, ring = tiles_for_viewport(self.reader.level_dimensions, self.reader.level_downsamples, level,
                                           viewport, self.tile_size, prefetch=1)
        self._wanted = set(visible)
        self._ring = [k for k in ring if k not in self.items]
        self._evict(viewport, level)
        self._show_underlay(not self._all_placed())
        if self.naive:
            for key in (k for k in visible if k not in self.items):
                try:
                    self._place(key, self.loader.read_tile(key))
                except Exception as exc:  # noqa: BLE001 - same handling as the pool's errors
                    self._place_failed(key, str(exc))
        elif self._all_placed():
            self._request_ring()
        else:  # visible tiles first; the prefetch ring once they are all drawn
            self.loader.request([k for k in visible if k not in self.items])
        return visible

    def _request_ring(self) -> None:
        ring, self._ring = self._ring, []
        if ring and self.loader is not None:
            self.loader.request([k for k in ring if k not in self.items])

    def _evict(self, viewport: tuple[float, float, float, float], level: int) -> None:
        x0, y0, x1, y1 = viewport
        mx, my = (x1 - x0), (y1 - y0)
        keep = QRectF(x0 - mx, y0 - my, 3 * mx, 3 * my)
        self._keep_rect = keep
        for key in list(self.items):
            item = self.items[key]
            far = not keep.intersects(self._rect(key))
            if far or key.level < level - 1 or (len(self.items) > self.max_items and key.level != level):
                self.view_box.removeItem(item)
                del self.items[key]

    def _rect(self, key: TileKey) -> QRectF:
        r = self.reader
        return QRectF(*tile_rect_level0(key, r.level_dimensions, r.level_downsamples, self.tile_size))

    def _enqueue(self, key: TileKey, rgba: np.ndarray) -> None:
        """Arrived tiles wait here; :meth:`_place_some` draws a few per event-loop pass so a burst of
        arrivals never blocks the GUI thread for more than a few tiles' worth of work."""
        self._pending[key] = rgba
        if not self._drain.isActive():
            self._drain.start()

    def _place_some(self, max_tiles: int = DRAIN_MAX_TILES, budget_s: float = DRAIN_BUDGET_S) -> int:
        """Place up to ``max_tiles`` pending tiles (visible ones first) within ``budget_s`` seconds of
        the monotonic clock (at least one per pass); the rest wait for the next event-loop pass, so
        input and paints interleave with uploads. Returns how many were placed."""
        t0 = time.perf_counter()
        wanted_first = sorted(self._pending, key=lambda k: k not in self._wanted)
        placed = 0
        for key in wanted_first[:max_tiles]:
            if placed and time.perf_counter() - t0 >= budget_s:
                break
            rgba = self._pending.pop(key)
            placed += 1
            if self._keep_rect is None or self._keep_rect.intersects(self._rect(key)):  # stale far tiles: dropped
                self._place(key, rgba)
        if self._pending:
            self._drain.start()
        return placed

    def _place(self, key: TileKey, rgba: np.ndarray) -> None:
        if key in self.items or self.loader is None:
            return
        item = pg.ImageItem(rgba, levels=None, autoLevels=False)
        item.setRect(self._rect(key))
        item.setZValue(-float(key.level))
        item.setVisible(key.level == self.current_level or not self._all_placed())  # a late underlay tile stays hidden
        self.view_box.addItem(item)
        self.items[key] = item
        self.tile_shown.emit(key.level, key.col, key.row)
        if key in self._wanted and self._all_placed():
            self._show_underlay(False)
            if self._ring:
                self._request_ring()

    def _show_underlay(self, show: bool) -> None:
        """Show the current level's tiles always; the thumbnail and other levels' tiles only while
        the current level has gaps (they would be painted, unseen, under a filled view).

        The current level's tiles are made visible explicitly: a level's tiles are hidden while a
        finer level fills the view, and when the view returns to that level they are already placed
        (nothing new arrives to show them), so without this the view stayed blank after zooming back
        out to a level seen before."""
        if self.thumbnail is not None:
            self.thumbnail.setVisible(show)
        for key, item in self.items.items():
            item.setVisible(show or key.level == self.current_level)

    def _place_failed(self, key: TileKey, text: str) -> None:
        w, h = tile_level_size(key, self.reader.level_dimensions, self.tile_size)
        self._place(key, np.broadcast_to(_PLACEHOLDER, (h, w, 4)).copy())
        self.message.emit(f"tile {key.level}/{key.col}/{key.row} could not be read: {text}")

    def _all_placed(self) -> bool:
        return all(k in self.items for k in self._wanted)

    def is_filled(self) -> bool:
        """Whether every tile visible at the current level has been placed and is shown."""
        items = self.items
        return all(k in items and items[k].isVisible() for k in self._wanted)

    def shutdown(self) -> None:
        """Stop the loader's workers (waits for reads in progress) and drop every item."""
        self._drain.stop()
        self._pending.clear()
        if self.loader is not None:
            self.loader.shutdown(wait=True)
            self.loader = None
        for item in self.items.values():
            self.view_box.removeItem(item)
        self.items.clear()
        if self.thumbnail is not None:
            self.view_box.removeItem(self.thumbnail)
            self.thumbnail = None
