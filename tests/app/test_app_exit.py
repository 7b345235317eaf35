"""``evident view --exit-after MS``: the window closes after its first frame and every worker stops."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from core.cli import main


def test_exit_after_first_frame_stops_tile_pool_inference_and_tissue_threads(window, demo_project, qtbot):
    from app.application import ExitAfterFirstFrame

    window.open_paths([demo_project["slide"]])
    loader = window.view.tiles.loader
    pool = list(loader._threads)
    assert pool and all(t.is_alive() for t in pool)
    started = threading.Event()

    def blocking_job(cancel: threading.Event) -> str:
        started.set()
        cancel.wait(60)  # only a cancel ends it
        return "should have been cancelled"

    inference = window.thread
    with qtbot.waitSignal(inference.cancelled_job, timeout=10000):
        inference.submit(blocking_job)
        assert started.wait(10)
        exit_timer = ExitAfterFirstFrame(window, 50)
        with qtbot.waitSignals([exit_timer.first_frame, exit_timer.closing], timeout=10000, order="strict"):
            window.detect_tissue()  # a background tissue read may be in flight when the window closes
    assert exit_timer.painted and not window.isVisible()
    assert not inference.isRunning()
    assert not any(t.is_alive() for t in pool) and window.view.tiles is None
    assert window.tissue_job is None or not window.tissue_job.is_running()
    assert window.session.slide is None


def test_exit_after_does_not_fire_before_the_first_paint(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.application import ExitAfterFirstFrame
    from app.window_builder import build_main_window

    w = build_main_window(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), tile_workers=1,
                          review=False)
    qtbot.addWidget(w)
    timer = ExitAfterFirstFrame(w, 0)
    assert not timer.painted  # never shown: nothing painted, nothing scheduled
    with qtbot.waitSignal(timer.closing, timeout=10000):
        w.show()
    assert timer.painted and not w.isVisible()


def _env(tmp_path, **extra):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "OMP_NUM_THREADS": "1"}
    env.pop("EVIDENT_EXIT_AFTER_MS", None)
    env.update(extra)
    return env


def test_view_command_exits_zero_after_the_first_frame(cmu_slide, tmp_path):
    args = [sys.executable, "-m", "core.cli", "view", "--exit-after", "100", str(cmu_slide)]
    proc = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_exit_after_env_value(monkeypatch):
    from app.application import EXIT_AFTER_ENV, exit_after_from_env

    monkeypatch.delenv(EXIT_AFTER_ENV, raising=False)
    assert exit_after_from_env(None) is None
    monkeypatch.setenv(EXIT_AFTER_ENV, " 250 ")
    assert exit_after_from_env(None) == 250
    assert exit_after_from_env(7) == 7  # the option wins over the environment
    monkeypatch.setenv(EXIT_AFTER_ENV, "later")
    with pytest.raises(ValueError, match="later"):
        exit_after_from_env(None)
    with pytest.raises(ValueError):
        exit_after_from_env(-1)


def test_view_rejects_bad_exit_after_with_one_error_line(cmu_slide, capsys, monkeypatch):
    assert main(["view", "--exit-after", "-5", str(cmu_slide)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --exit-after")
    monkeypatch.setenv("EVIDENT_EXIT_AFTER_MS", "soon")
    assert main(["view", str(cmu_slide)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "EVIDENT_EXIT_AFTER_MS" in err[0] and "soon" in err[0]


def test_garbage_is_collected_on_the_gui_thread_only(qtbot) -> None:
    """gui_thread_gc turns Python's automatic collection off (so it never runs on the inference
    thread) and collects cyclic garbage from a timer on the GUI thread instead."""
    import gc
    import threading
    import weakref

    from app.application import gui_thread_gc

    class Node:
        pass

    collected_on: list[str] = []
    guard = gui_thread_gc(interval_s=0.05)
    try:
        assert not gc.isenabled()
        for _ in range(2000):  # cycles above generation 0's threshold
            a, b = Node(), Node()
            a.other, b.other = b, a
            weakref.finalize(a, lambda: collected_on.append(threading.current_thread().name))
            del a, b
        qtbot.waitUntil(lambda: len(collected_on) == 2000, timeout=5000)
        assert set(collected_on) == {threading.main_thread().name}
    finally:
        guard.timer.stop()
        gc.enable()
