"""The viewer benchmark's close_ms row: a main window with a slide open closes and stops its tile workers."""

from __future__ import annotations

import math
import threading


def test_measure_close_returns_a_time_and_stops_every_tile_worker(qapp, cmu_slide):
    from app.bench_viewer import measure_close

    ms = measure_close(str(cmu_slide), qapp)
    assert math.isfinite(ms) and 0 < ms < 5000
    assert not [t for t in threading.enumerate() if t.name.startswith("evident-tile") and t.is_alive()]
