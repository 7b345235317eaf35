"""TileLoader: delivery, in-flight de-duplication, cancellation of stale requests, errors, shutdown."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

from core.errors import EvidentError
from core.slide.cache import TileCache
from core.slide.loader import TileLoader, TileSource
from core.slide.reader import open_slide
from core.slide.tiling import TileKey, tile_grid

WAIT = 10.0  # generous timeout for waits that normally end in milliseconds


class FakeReader:
    """A 4096 x 4096, 2-level slide whose reads are counted and can be held on a gate."""

    level_dimensions = ((4096, 4096), (1024, 1024))
    level_downsamples = (1.0, 4.0)

    def __init__(self, gate: threading.Event | None = None, bad: set | None = None) -> None:
        self.gate = gate
        self.bad = bad or set()
        self.calls: Counter = Counter()
        self.started = threading.Semaphore(0)
        self.lock = threading.Lock()

    def read_region(self, location, level, size):
        with self.lock:
            self.calls[(location, level, size)] += 1
        self.started.release()
        if self.gate is not None:
            assert self.gate.wait(WAIT)
        if (location, level) in self.bad:
            raise EvidentError("fake.svs", f"cannot decode region {location}")
        w, h = size
        out = np.zeros((h, w, 4), np.uint8)
        out[..., 0] = location[0] // 512 % 256
        out[..., 1] = location[1] // 512 % 256
        out[..., 3] = 255
        return out


class Sink:
    def __init__(self) -> None:
        self.tiles: dict = {}
        self.errors: dict = {}
        self.order: list = []
        self.cond = threading.Condition()

    def on_tile(self, key, rgba):
        with self.cond:
            self.tiles[key] = rgba
            self.order.append(key)
            self.cond.notify_all()

    def on_error(self, key, exc):
        with self.cond:
            self.errors[key] = exc
            self.cond.notify_all()

    def wait_for(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.tiles) + len(self.errors) >= n, WAIT)


def keys(n: int, level: int = 0) -> list[TileKey]:
    return [TileKey(level, i % 8, i // 8) for i in range(n)]


def test_delivers_real_tiles_from_the_cmu_slide(cmu_slide):
    sink = Sink()
    with open_slide(cmu_slide) as r:
        ncols, nrows = tile_grid(r.level_dimensions, 0, 512)
        want = [TileKey(0, c, rr) for rr in range(nrows) for c in range(ncols)]
        with TileLoader(r, cache=TileCache(), workers=3, on_tile=sink.on_tile, on_error=sink.on_error) as ld:
            ld.request(want)
            sink.wait_for(len(want))
            assert ld.wait_idle(WAIT)
        assert sink.errors == {} and set(sink.tiles) == set(want)
        last = TileKey(0, ncols - 1, nrows - 1)
        assert sink.tiles[last].shape == (2967 - 512 * (nrows - 1), 2220 - 512 * (ncols - 1), 4)
        k = TileKey(0, 2, 2)
        np.testing.assert_array_equal(sink.tiles[k], r.read_region((1024, 1024), 0, (512, 512)))


def test_in_flight_duplicates_are_not_read_again_and_cache_hits_come_at_once():
    gate = threading.Event()
    reader = FakeReader(gate)
    sink = Sink()
    cache = TileCache()
    ld = TileLoader(reader, cache=cache, workers=2, on_tile=sink.on_tile, on_error=sink.on_error)
    try:
        ks = keys(2)
        ld.request(ks)
        for _ in range(2):  # both workers are now blocked inside a read
            assert reader.started.acquire(timeout=WAIT)
        ld.request(ks + ks)  # same tiles again (and duplicated within the request)
        ld.request(ks)
        gate.set()
        sink.wait_for(2)
        assert ld.wait_idle(WAIT)
        assert sum(reader.calls.values()) == 2 and ld.reads == 2
        # now cached: delivered synchronously from request(), no read
        n = len(sink.order)
        ld.request(ks)
        assert len(sink.order) == n + 2 and sum(reader.calls.values()) == 2
        assert cache.hits == 2
    finally:
        gate.set()
        ld.shutdown()


def test_new_request_cancels_stale_queued_tiles_and_keeps_centre_first_order():
    gate = threading.Event()
    reader = FakeReader(gate)
    sink = Sink()
    ld = TileLoader(reader, workers=1, on_tile=sink.on_tile, on_error=sink.on_error)
    try:
        old = keys(20)
        ld.request(old)
        assert reader.started.acquire(timeout=WAIT)  # worker holds old[0]; old[1:] are queued
        new = [TileKey(1, 1, 1), TileKey(1, 0, 1), TileKey(1, 1, 0), old[5]]
        ld.request(new)
        gate.set()
        sink.wait_for(1 + len(new))
        assert ld.wait_idle(WAIT)
        read_keys = set(sink.tiles)
        assert read_keys == {old[0], *new}  # old[1:] except the re-requested old[5] were cancelled
        assert sink.order == [old[0], *new]  # newest generation, in the caller's (centre-first) order
        assert sum(reader.calls.values()) == 1 + len(new)
    finally:
        gate.set()
        ld.shutdown()


def test_corrupt_tile_goes_to_on_error_and_loader_keeps_working():
    bad_key = TileKey(0, 1, 0)
    reader = FakeReader(bad={((512, 0), 0)})
    sink = Sink()
    with TileLoader(reader, workers=2, on_tile=sink.on_tile, on_error=sink.on_error) as ld:
        ld.request(keys(4))
        sink.wait_for(4)
        assert set(sink.errors) == {bad_key} and isinstance(sink.errors[bad_key], EvidentError)
        assert set(sink.tiles) == set(keys(4)) - {bad_key}
        ld.request(keys(6))  # still alive
        sink.wait_for(6)
        assert len(sink.tiles) == 5


def test_real_corrupt_tiff_error_path(make_corrupt_tiff):
    path = make_corrupt_tiff(bad_tiles=[0])
    sink = Sink()
    with open_slide(path) as r, TileLoader(r, tile_size=256, workers=2, on_tile=sink.on_tile,
                                           on_error=sink.on_error) as ld:
        want = [TileKey(0, c, rr) for rr in range(4) for c in range(4)]
        ld.request(want)
        sink.wait_for(16)
        assert set(sink.errors) == {TileKey(0, 0, 0)}
        assert "cannot decode region x=0 y=0" in str(sink.errors[TileKey(0, 0, 0)])
        assert len(sink.tiles) == 15


def test_failing_callback_does_not_kill_workers():
    calls = []

    def on_tile(key, rgba):
        calls.append(key)
        raise RuntimeError("GUI went away")

    reader = FakeReader()
    with TileLoader(reader, workers=1, on_tile=on_tile) as ld:
        ld.request(keys(3))
        assert ld.wait_idle(WAIT)
        ld.request([TileKey(0, 0, 5)])
        assert ld.wait_idle(WAIT)
    assert len(calls) == 4


def test_shutdown_stops_workers_and_drops_queue():
    gate = threading.Event()
    reader = FakeReader(gate)
    sink = Sink()
    ld = TileLoader(reader, workers=2, on_tile=sink.on_tile)
    ld.request(keys(30))
    for _ in range(2):
        assert reader.started.acquire(timeout=WAIT)
    threading.Timer(0.05, gate.set).start()
    ld.shutdown(wait=True)
    assert all(not t.is_alive() for t in ld._threads)
    assert sum(reader.calls.values()) == 2  # only the two in-flight reads happened
    ld.request(keys(5))  # ignored after shutdown
    assert sum(reader.calls.values()) == 2 and ld.pending == 0


def test_read_tile_is_synchronous_through_cache_and_validates_key():
    reader = FakeReader()
    cache = TileCache()
    with TileLoader(reader, cache=cache, workers=1) as ld:
        a = ld.read_tile(TileKey(1, 1, 1))
        assert a.shape == (512, 512, 4)
        assert list(reader.calls) == [((2048, 2048), 1, (512, 512))]  # level-0 location, level size
        b = ld.read_tile(TileKey(1, 1, 1))
        assert b is a and sum(reader.calls.values()) == 1
        with pytest.raises(ValueError):
            ld.read_tile(TileKey(1, 2, 0))  # level 1 has only 2 columns of 512


def test_a_fake_reader_is_a_tile_source_and_anything_else_is_refused():
    assert isinstance(FakeReader(), TileSource)

    class NoRegions:
        level_dimensions = ((16, 16),)
        level_downsamples = (1.0,)

    with pytest.raises(TypeError, match="needs a TileSource.*got NoRegions"):
        TileLoader(NoRegions(), workers=1)
