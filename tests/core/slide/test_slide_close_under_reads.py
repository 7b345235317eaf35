"""Closing a reader while a thread pool is reading must neither crash nor corrupt reads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.errors import EvidentError
from core.slide.reader import open_slide


def test_close_waits_for_reads_in_flight_and_refuses_new_ones(cmu_slide):
    reader = open_slide(cmu_slide)
    started = threading.Barrier(5)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        started.wait()
        for _ in range(200):
            x, y = int(rng.integers(0, 1900)), int(rng.integers(0, 2600))
            try:
                tile = reader.read_region((x, y), 0, (256, 256))
                assert tile.shape == (256, 256, 4)
                res = "ok"
            except EvidentError as exc:
                assert "closed" in str(exc)
                res = "closed"
            with lock:
                outcomes.append(res)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    reader.close()  # must wait for the reads in flight, not abort the process
    for t in threads:
        t.join()
    assert "closed" in outcomes  # reads after close were refused cleanly
    with pytest.raises(EvidentError, match="closed"):
        reader.read_region((0, 0), 0, (16, 16))
    reader.close()  # idempotent
