"""Viewer benchmark driven offscreen: ``python -m app.bench_viewer [--quick] [--json]``.

One scripted session on the >= 50k x 50k pyramidal TIFF (:func:`core.slide.pyramid.large_slide_path`),
run twice in one process: with the tile pool (ours) and with tiles read synchronously on the GUI
thread (the naive baseline). Session: open + fit, zoom to 20x at several places (cold cache), pan
across, jump via the minimap. Measured on the GUI thread:

* ``first_frame_ms``: open the slide until the first frame is painted (thumbnail under the tiles);
* ``fov_fill_ms``: median time from a navigation (zoom to 20x at a new place / minimap jump) until
  every visible tile is drawn;
* ``pan_frame_p50_ms`` / ``pan_frame_p95_ms``: GUI-thread time per pan step of 10% of the view
  (the navigation call plus one event-processing pass: view update, arrived tiles, the paint);
* ``max_gui_stall_ms``: after the first frame, the longest single piece of GUI-thread work while
  tiles load (each navigation call, each event-processing slice with its paint): what a user feels
  as a freeze; ``open_stall_ms``: the longest piece while opening (reading the overview image);
  ``max_gui_stall_cpu_ms``: the same in GUI-thread CPU time (insensitive to other processes
  preempting the GUI thread on a loaded machine).
* ``zoom_return_ms``: median time from zooming back out to a level seen before (5x after 20x at
  the same place, and fit after the whole session) until the view is complete again (every visible
  tile placed and shown, and painted): tiles come from the placed items or the tile cache;
* ``close_ms`` (main window, with the review features as ``evident view`` builds it, slide open
  and settled): ``close()`` until it returned and the close's events were processed.
* ``quit_ms``: ``evident view --exit-after`` on the slide in a child process, from the window's
  close to the end of the process (what a person waits for the command to return); ours ends the
  process right after the close (``run(exit_process=True)``), the baseline lets the interpreter
  shut down normally.

A second row (:mod:`app.bench_overlay`): the longest GUI stall while an overlay slider is dragged on
a 100,000-patch map, cached and throttled vs the pre-cache path. A third (:mod:`app.bench_annotations`):
the pan frame time over 10,000 annotation polygons, one path item per class vs one item per polygon.
``--only tiles|overlay|annotations`` runs one.
Each row is one JSON line with ``--json``.

Run through ``evident bench viewer`` (core/bench/viewer.py starts this in a subprocess because core
may not import Qt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run_session", "main"]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def run_session(slide_path: str, *, naive: bool, quick: bool) -> dict:
    """One scripted session; returns the five numbers (ms) for the tile pool or the naive baseline."""
    import numpy as np
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.viewer.slide_view import SlideView
    from core.slide.reader import open_slide

    app = QApplication.instance() or QApplication([])
    view = SlideView(tile_workers=min(4, os.cpu_count() or 1), naive_tiles=naive)
    view.resize(1280, 900)
    view.show()
    app.processEvents()
    stalls: list[float] = []

    labels: list[str] = []
    cpu: list[float] = []

    def work(fn, *args):
        t, c = time.perf_counter(), time.thread_time()
        fn(*args)
        stalls.append(_ms(t))
        cpu.append((time.thread_time() - c) * 1000.0)
        labels.append(getattr(fn, "__name__", "?"))

    def paint():
        work(view.graphics.viewport().repaint)

    def pump_until_filled(timeout_s: float = 30.0) -> float:
        t0 = time.perf_counter()
        while True:
            work(app.processEvents)
            if view.is_filled():
                work(app.processEvents)  # the paint of the filled frame
                return _ms(t0)
            if time.perf_counter() - t0 > timeout_s:
                raise RuntimeError("tiles did not arrive in time")
            time.sleep(0.0005)  # idle: the GUI thread waits for nothing here

    _ = QSettings  # the bench never touches the user's settings
    t0 = time.perf_counter()
    reader = open_slide(slide_path)
    work(view.set_slide, reader)
    work(app.processEvents)
    paint()
    first_frame = _ms(t0)
    open_stall = max(stalls)
    stalls.clear()
    cpu.clear()
    labels.clear()
    pump_until_filled()
    w, h = reader.dimensions
    rng = np.random.default_rng(0)
    n_places = 3 if quick else 6
    fills = []
    for _ in range(n_places):
        cx, cy = (float(v) for v in rng.uniform(0.1, 0.9, 2) * (w, h))
        work(view.set_magnification, 20.0)
        work(view.center_on, cx, cy)
        fills.append(pump_until_filled())
    pan_frames = []
    for _ in range(10 if quick else 30):
        t, c = time.perf_counter(), time.thread_time()
        view.pan(0.1, 0.0)
        app.processEvents()  # delivers the coalesced view update, arrived tiles and the paint
        pan_frames.append(_ms(t))
        stalls.append(pan_frames[-1])
        cpu.append((time.thread_time() - c) * 1000.0)
        labels.append("pan")
    pump_until_filled()
    for fx, fy in ((0.25, 0.75), (0.8, 0.2)):
        work(view.minimap.jump.emit, fx * w, fy * h)
        fills.append(pump_until_filled())
    returns = []
    for _ in range(3 if quick else 5):  # 5x, 20x at the same place, back to 5x
        cx, cy = (float(v) for v in rng.uniform(0.1, 0.9, 2) * (w, h))
        work(view.set_magnification, 5.0)
        work(view.center_on, cx, cy)
        pump_until_filled()
        work(view.set_magnification, 20.0)
        pump_until_filled()
        t = time.perf_counter()  # from the navigation call (included) to the painted, complete view
        work(view.set_magnification, 5.0)
        pump_until_filled()
        returns.append(_ms(t))
    t = time.perf_counter()
    work(view.fit)
    pump_until_filled()
    returns.append(_ms(t))
    if os.environ.get("EVIDENT_BENCH_DEBUG"):
        top = sorted(zip(stalls, labels), reverse=True)[:8]
        print("naive" if naive else "pool", [(round(a, 1), b) for a, b in top], file=sys.stderr)
    image = view.graphics.grab().toImage()
    view.shutdown()
    view.close()
    reader.close()
    close_ms = measure_close(slide_path, app, naive=naive)
    return {"zoom_return_ms": float(np.median(returns)), "close_ms": close_ms, "first_frame_ms": first_frame, "fov_fill_ms": float(np.median(fills)),
            "pan_frame_p50_ms": float(np.percentile(pan_frames, 50)),
            "pan_frame_p95_ms": float(np.percentile(pan_frames, 95)),
            "max_gui_stall_ms": float(max(stalls)), "open_stall_ms": float(open_stall),
            "max_gui_stall_cpu_ms": float(max(cpu)), "_image": image}


def measure_close(slide_path: str, app, *, naive: bool = False) -> float:
    """``close_ms``: a main window as ``evident view`` builds it (review features installed), the
    slide open and settled, then zoomed in so that tiles are being read; time of ``close()`` plus
    processing the events it posted. Settings go to a temporary file, never the user's."""
    from PySide6.QtCore import QSettings

    from app.window_builder import build_main_window

    with tempfile.TemporaryDirectory() as tmp:
        window = build_main_window(settings=QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat))
        window.view.naive_tiles = naive
        window.resize(1366, 768)
        window.show()
        window.open_paths([slide_path])
        t0 = time.perf_counter()
        while not window.view.is_filled() and time.perf_counter() - t0 < 30:
            app.processEvents()
            time.sleep(0.001)
        window.view.set_magnification(20.0)  # reads in flight while closing
        app.processEvents()
        t = time.perf_counter()
        window.close()
        app.processEvents()
        ms = _ms(t)
        window.deleteLater()
        app.processEvents()
    return ms


def _quit_child(slide_path: str, exit_process: bool) -> None:
    """Child of :func:`measure_quit`: the viewer as ``evident view`` runs it, printing the wall-clock
    time of the window's close on stdout."""
    import app.application as application

    close = application.ExitAfterFirstFrame._close

    def stamped(self):
        print(f"CLOSE {time.time():.6f}", flush=True)
        close(self)

    application.ExitAfterFirstFrame._close = stamped
    status = application.run([slide_path], exit_after_ms=300, exit_process=exit_process)
    sys.exit(status)


def measure_quit(slide_path: str, *, exit_process: bool) -> float:
    """``quit_ms``: ms from the window's close to the end of a child ``evident view`` process
    (settings in a temporary folder, never the user's)."""
    import subprocess

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": home, "QT_QPA_PLATFORM": "offscreen"}
        env.pop("EVIDENT_EXIT_AFTER_MS", None)
        cmd = [sys.executable, "-m", "app.bench_viewer", "--quit-child", slide_path] + (["--hard"] if exit_process else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        end = time.time()
    stamps = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("CLOSE ")]
    if proc.returncode != 0 or not stamps:
        raise RuntimeError(f"the viewer child failed ({(proc.stderr.strip().splitlines() or ['no output'])[-1]})")
    return (end - float(stamps[-1])) * 1000.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.bench_viewer")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--slide", default=None, help="slide to use (default: the 51200 x 51200 pyramid TIFF)")
    p.add_argument("--only", choices=("tiles", "overlay", "annotations"), default=None, help="run one of the rows")
    p.add_argument("--quit-child", default=None, metavar="SLIDE", help=argparse.SUPPRESS)
    p.add_argument("--hard", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quit_child:
        _quit_child(args.quit_child, args.hard)
    rows = []
    if args.only in (None, "tiles"):
        rows.append(_tiles_row(args))
    if args.only in (None, "overlay"):
        from app.bench_overlay import overlay_row

        rows.append(overlay_row(steps=50 if args.quick else 100))
    if args.only in (None, "annotations"):
        from app.bench_annotations import annotation_pan_row

        rows.append(annotation_pan_row(steps=30 if args.quick else 60))
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            for k, v in row.items():
                print(f"{k:28s} {v}")
    return 0


def _tiles_row(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np

    from core.slide.pyramid import large_slide_path

    slide = args.slide or str(large_slide_path(51200))
    with tempfile.TemporaryDirectory():
        ours = run_session(slide, naive=False, quick=args.quick)
        base = run_session(slide, naive=True, quick=args.quick)
    ours["quit_ms"] = measure_quit(slide, exit_process=True)
    base["quit_ms"] = measure_quit(slide, exit_process=False)

    def arr(img):
        ptr = img.constBits()
        return np.frombuffer(ptr, np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())

    a, b = ours.pop("_image"), base.pop("_image")
    diff = float(np.abs(arr(a).astype(int) - arr(b).astype(int)).max()) if a.size() == b.size() else float("nan")
    from core.slide.reader import open_slide

    with open_slide(slide) as r:
        size = "{} x {}".format(*r.dimensions)
    return {"case": f"scripted viewer session ({size} {Path(slide).suffix.lstrip('.').upper()})",
            "ours_ms": ours["fov_fill_ms"], "baseline_ms": base["fov_fill_ms"],
            "speedup": base["fov_fill_ms"] / max(ours["fov_fill_ms"], 1e-9),
            "max_abs_diff": diff, **ours, **{f"baseline_{k}": v for k, v in base.items()}, "slide": slide}


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter-exit GC of Qt wrappers
