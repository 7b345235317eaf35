"""Qt-free background tile loader: a few worker threads, newest request first, centre first.

Requests are immutable lists of :class:`~core.slide.tiling.TileKey`; each :meth:`TileLoader.request`
starts a new generation that replaces the queue (stale queued tiles are cancelled), keeps the
caller's order (centre first), skips tiles already being read (in-flight de-duplication) and
delivers cached tiles at once. Results are plain numpy arrays handed to ``on_tile(key, rgba)``
from the worker thread; the GUI marshals them onto its own thread. A tile that cannot be decoded
goes to ``on_error(key, exc)`` and the workers carry on.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.slide.cache import TileCache
from core.slide.tiling import TileKey, tile_level_size

__all__ = ["TileLoader", "TileSource"]

_log = logging.getLogger(__name__)

TileCallback = Callable[[TileKey, np.ndarray], Any]
ErrorCallback = Callable[[TileKey, BaseException], Any]


@runtime_checkable
class TileSource(Protocol):
    """What :class:`TileLoader` needs from a slide: :class:`core.slide.reader.SlideReader` is one,
    and a test can pass any object with these three members."""

    #: ``(width, height)`` of each pyramid level, level pixels.
    level_dimensions: Sequence[tuple[int, int]]
    #: Downsample of each level relative to level 0 (level 0 is 1.0).
    level_downsamples: Sequence[float]

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """``(h, w, 4)`` uint8 RGBA of ``size`` level pixels at level-0 ``location`` (x, y)."""
        ...


class TileLoader:
    """Load tiles of one slide on ``workers`` threads.

    Parameters
    ----------
    reader
        A :class:`TileSource` (a :class:`core.slide.reader.SlideReader` or a test's fake), shared by
        all workers.
    cache
        Where tiles are kept; ``None`` = no caching.
    tile_size
        Tile edge in level pixels (must match the :class:`TileKey` grid of the caller).
    workers
        Number of worker threads (>= 1).
    on_tile
        Called as ``on_tile(key, rgba)`` with ``rgba`` ``(h, w, 4)`` uint8 (read-only when cached),
        from a worker thread (from the calling thread for cache hits in :meth:`request`).
    on_error
        Called as ``on_error(key, exc)`` from a worker thread when a tile cannot be read.

    Attributes
    ----------
    reads
        Number of tiles actually read from the slide (cache misses that reached the reader).
    """

    def __init__(
        self,
        reader: TileSource,
        *,
        cache: TileCache | None = None,
        tile_size: int = 512,
        workers: int = 4,
        on_tile: TileCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not isinstance(reader, TileSource):
            raise TypeError(f"TileLoader needs a TileSource (level_dimensions, level_downsamples, read_region), "
                            f"got {type(reader).__name__}")
        self.reader = reader
        self.cache = cache
        self.tile_size = int(tile_size)
        self.on_tile = on_tile or (lambda key, rgba: None)
        self.on_error = on_error or (lambda key, exc: None)
        self.reads = 0
        self.generation = 0
        self._queue: deque[TileKey] = deque()
        self._inflight: set[TileKey] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"evident-tile-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # -- public API ------------------------------------------------------------------------------
    def request(self, keys: Sequence[TileKey]) -> None:
        """Start a new generation: load ``keys`` in this order, cancel queued tiles not in it.

        Cached tiles are delivered at once (on the calling thread); tiles already being read are
        not read again (their result is delivered when it arrives). Ignored after :meth:`shutdown`.
        """
        hits: list[tuple[TileKey, np.ndarray]] = []
        with self._cond:
            if self._stopped:
                return
            self.generation += 1
            queue: deque[TileKey] = deque()
            seen: set[TileKey] = set()
            for key in keys:
                if key in seen or key in self._inflight:
                    continue
                seen.add(key)
                # `in` first so that a queued tile counts one miss (in the worker), not two
                arr = self.cache.get(key) if self.cache is not None and key in self.cache else None
                if arr is not None:
                    hits.append((key, arr))
                else:
                    queue.append(key)
            self._queue = queue
            self._cond.notify_all()
        for key, arr in hits:
            self._deliver(key, arr)

    def read_tile(self, key: TileKey) -> np.ndarray:
        """Read one tile now, through the cache: ``(h, w, 4)`` uint8 RGBA.

        Raises
        ------
        EvidentError
            When the slide's tiles there cannot be decoded.
        ValueError
            When ``key`` lies outside its level.
        """
        if self.cache is not None:
            arr = self.cache.get(key)
            if arr is not None:
                return arr
        w, h = tile_level_size(key, self.reader.level_dimensions, self.tile_size)
        ds = float(self.reader.level_downsamples[key.level])
        x = int(round(key.col * self.tile_size * ds))
        y = int(round(key.row * self.tile_size * ds))
        arr = self.reader.read_region((x, y), key.level, (w, h))
        with self._cond:
            self.reads += 1
        if self.cache is not None:
            self.cache.put(key, arr)
        return arr

    @property
    def pending(self) -> int:
        """Tiles queued or being read."""
        with self._cond:
            return len(self._queue) + len(self._inflight)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or in flight; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._inflight, timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Cancel queued tiles and stop the workers (after their current read when ``wait``)."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        if wait:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join()

    def __enter__(self) -> TileLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- workers ---------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or bool(self._queue))
                if self._stopped:
                    return
                key = self._queue.popleft()
                self._inflight.add(key)
            try:
                try:
                    arr = self.read_tile(key)
                except Exception as exc:  # a bad tile must not kill the worker
                    self._call(self.on_error, key, exc)
                else:
                    self._deliver(key, arr)
            finally:
                with self._cond:
                    self._inflight.discard(key)
                    self._cond.notify_all()

    def _deliver(self, key: TileKey, arr: np.ndarray) -> None:
        self._call(self.on_tile, key, arr)

    @staticmethod
    def _call(fn: Callable[..., Any], key: TileKey, arg: Any) -> None:
        try:
            fn(key, arg)
        except Exception:  # a failing callback must not kill the worker either
            _log.exception("tile callback failed for %s", key)
