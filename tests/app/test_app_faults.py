"""Faults during a review: the window stays responsive and says what happened.

Tile workers that raise (a decoder bug, a corrupt tile) during a pan driven with real mouse events,
and a model that raises, or stops its thread with ``SystemExit``, during an intervention.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.errors import EvidentError
from core.review.demo import demo_model


class _FaultyTiles:
    """A reader whose tiles in column 1 raise RuntimeError (a bug) and in column 2 are corrupt."""

    def __init__(self, reader, tile_px: int):
        self._r, self.calls, self._px = reader, 0, tile_px

    def __getattr__(self, name):
        return getattr(self._r, name)

    def read_region(self, location, level, size):
        self.calls += 1
        col = int(location[0] // (self._px * self._r.level_downsamples[level]))
        if col == 1:
            raise RuntimeError("decoder bug")
        if col == 2:
            raise EvidentError(self._r.path, "JPEG tile cannot be decoded")
        return self._r.read_region(location, level, size)


def _painted(widget) -> bool:
    img = widget.grab().toImage()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8)[: img.sizeInBytes()]
    return img.width() > 0 and arr.std() > 0


def test_pan_over_failing_tiles_keeps_the_window_working(window, demo_project, qtbot):
    from core.slide.reader import open_slide

    v = window.view
    reader = open_slide(demo_project["slide"])
    messages = []
    v.message.connect(messages.append)
    faulty = _FaultyTiles(reader, 256)
    v.set_slide(faulty)
    v.one_to_one()
    qtbot.waitUntil(lambda: faulty.calls > 0, timeout=10000)
    widget = v.graphics.viewport()  # the widget that receives the mouse
    start = widget.rect().center()
    before = v.viewport()
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 9):  # a drag: the slide moves under the cursor
        QTest.mouseMove(widget, start - QPoint(40 * step, 0))
        qtbot.wait(20)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=start - QPoint(320, 0))
    qtbot.waitUntil(lambda: v.viewport() != before, timeout=5000)
    qtbot.waitUntil(v.is_filled, timeout=15000)
    assert any("could not be read" in m or "decoder bug" in m or "cannot be decoded" in m for m in messages), messages
    before = v.viewport()
    qtbot.keyClick(v, Qt.Key.Key_Right)  # still responsive after the faults
    assert v.viewport()[0] > before[0]
    assert _painted(v)
    v.set_slide(None)
    reader.close()


@pytest.fixture
def opened(window, demo_project):
    window.open_paths([demo_project["root"]])
    return window, window.session, window.interventions


@pytest.mark.parametrize("fault", [RuntimeError("model bug"), SystemExit(3)])
def test_a_model_that_fails_during_an_intervention_is_reported(opened, qtbot, fault):
    window, s, panel = opened
    model = demo_model()
    inner = model.embed

    def embed(features):
        raise fault

    model.embed = embed
    panel.model = model
    panel.select_top_k("attention", 4)
    with qtbot.waitSignal(panel.thread.failed_job, timeout=20000):
        panel.intervene("remove")
    assert "intervention failed" in window.status_text.text()
    assert type(fault).__name__ in window.status_text.text()
    assert panel.keep.isEnabled() and not s.history
    model.embed = inner  # the same thread then runs the next intervention
    panel.model = model
    with qtbot.waitSignal(panel.thread.finished_job, timeout=20000):
        panel.intervene("remove")
    qtbot.waitUntil(lambda: len(s.history) == 1, timeout=5000)
    assert panel.thread.isRunning()



def test_an_inference_thread_that_dies_inside_a_job_reports_it_and_starts_again(qtbot, monkeypatch):
    """Fault injection: the thread body ends inside a job (as a killed thread would). The job is
    reported as failed instead of staying pending forever (the panels then re-enable their buttons and
    say why, as for any failed job), and the thread starts again for the job still queued."""
    from app.jobs import InferenceThread

    def dies_in_the_job(self):
        job_id, _fn = self._jobs.get()
        self.started_job.emit(job_id)
        self._running = job_id  # inside the job ...
        return  # ... and the thread is gone

    monkeypatch.setattr(InferenceThread, "run", dies_in_the_job)
    thread = InferenceThread()
    failed = []
    thread.failed_job.connect(lambda job, why: failed.append((job, why)))
    first, second = thread.submit(lambda cancel: 1), thread.submit(lambda cancel: 2)
    qtbot.waitUntil(lambda: len(failed) == 2, timeout=10000)  # the second ran on a restarted thread
    assert [j for j, _ in failed] == [first, second]
    assert all("inference thread ended during this job" in why for _, why in failed)
    qtbot.waitUntil(lambda: not thread.isRunning(), timeout=5000)
    thread.stop()
    assert thread._jobs.empty()
