"""A thread-safe least-recently-used tile cache bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

__all__ = ["TileCache", "DEFAULT_CACHE_BYTES"]

#: default capacity: 512 MB (QuPath uses a quarter of memory; the viewer spec asks for ~512 MB)
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


class TileCache:
    """LRU cache of numpy arrays whose total ``nbytes`` never exceeds ``max_bytes``.

    All methods may be called from any thread. Stored arrays are made read-only (they are shared
    between threads and consumers), so a consumer that wants to draw into a tile copies it.

    Parameters
    ----------
    max_bytes
        Capacity in bytes (``>= 0``). An array larger than the capacity is not stored.

    Attributes
    ----------
    hits, misses
        Counters of :meth:`get` calls that found / did not find their key.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        """The array stored under ``key`` (marked most recently used), or ``None``."""
        with self._lock:
            arr = self._items.get(key)
            if arr is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return arr

    def put(self, key: Hashable, arr: np.ndarray) -> None:
        """Store ``arr`` under ``key``, evicting least recently used entries to stay in budget.

        ``arr`` is made read-only in place. Replacing a key replaces its size in the total.
        """
        arr = np.asarray(arr)
        size = int(arr.nbytes)
        arr.setflags(write=False)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._nbytes -= int(old.nbytes)
            if size > self.max_bytes:
                return
            while self._items and self._nbytes + size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._nbytes -= int(evicted.nbytes)
            self._items[key] = arr
            self._nbytes += size

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is cached (does not count as a hit or miss, does not touch LRU order)."""
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Total bytes of the stored arrays."""
        with self._lock:
            return self._nbytes

    def clear(self) -> None:
        """Drop every entry (counters are kept)."""
        with self._lock:
            self._items.clear()
            self._nbytes = 0

    def __repr__(self) -> str:
        return (f"TileCache({self.nbytes}/{self.max_bytes} bytes, {len(self)} items, "
                f"hits={self.hits}, misses={self.misses})")
