"""Byte-bounded LRU tile cache: eviction order, byte accounting, counters, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.slide.cache import DEFAULT_CACHE_BYTES, TileCache


def arr(nbytes: int, fill: int = 0) -> np.ndarray:
    return np.full(nbytes, fill, dtype=np.uint8)


def test_default_capacity_is_512_mb():
    assert TileCache().max_bytes == DEFAULT_CACHE_BYTES == 512 * 2**20


def test_evicts_least_recently_used_by_bytes():
    c = TileCache(max_bytes=300)
    c.put("a", arr(100))
    c.put("b", arr(100))
    c.put("c", arr(100))
    assert c.nbytes == 300 and len(c) == 3
    assert c.get("a") is not None  # a is now most recent; b is the LRU
    c.put("d", arr(150))           # needs 150 bytes: evicts b then c
    assert "b" not in c and "c" not in c and "a" in c and "d" in c
    assert c.nbytes == 250


def test_replacing_a_key_updates_bytes_and_oversized_is_not_stored():
    c = TileCache(max_bytes=1000)
    c.put("a", arr(400))
    c.put("a", arr(100, 7))
    assert c.nbytes == 100 and int(c.get("a")[0]) == 7
    c.put("huge", arr(1001))
    assert "huge" not in c and c.nbytes == 100
    c.put("a", arr(1001))  # replacing with an oversized array drops the old one
    assert "a" not in c and c.nbytes == 0


def test_counters_and_contains_does_not_count():
    c = TileCache(max_bytes=1000)
    assert c.get("x") is None
    c.put("x", arr(10))
    assert "x" in c and "y" not in c
    assert c.get("x") is not None and c.get("x") is not None
    assert (c.hits, c.misses) == (2, 1)
    c.clear()
    assert len(c) == 0 and c.nbytes == 0 and (c.hits, c.misses) == (2, 1)


def test_stored_arrays_are_read_only():
    c = TileCache(max_bytes=1000)
    a = arr(10)
    c.put("a", a)
    with pytest.raises(ValueError):
        c.get("a")[0] = 1


def test_concurrent_put_get_stays_within_budget():
    cap = 64 * 1000
    c = TileCache(max_bytes=cap)
    errors = []

    def work(tid: int) -> None:
        rng = np.random.default_rng(tid)
        try:
            for _i in range(2000):
                key = int(rng.integers(0, 200))
                got = c.get(key)
                if got is None:
                    c.put(key, arr(int(rng.integers(500, 3000)), key % 256))
                elif int(got[0]) != key % 256:
                    errors.append(f"wrong content for {key}")
                if c.nbytes > cap:
                    errors.append("over budget")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert c.hits + c.misses == 8 * 2000
    assert c.hits > 0 and c.misses > 0
    assert 0 < c.nbytes <= cap
    assert c.nbytes == sum(c.get(k).nbytes for k in range(200) if k in c)
