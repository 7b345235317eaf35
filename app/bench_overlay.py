"""Benchmark row: the longest GUI-thread stall while an overlay slider is dragged (offscreen).

A main window (settings in a temporary file) holds a 100,000-patch map on a 400 x 250 lattice
(random scores, the default rank normalisation, the whole map in view). The opacity slider and
then the threshold slider are dragged across their range with real mouse events (``QTest``), one
move every 4 ms; each step's GUI-thread time is the move's delivery (the slider, the throttle,
the session update, the overlay and colorbar update) plus one event-processing pass and a
repaint of the view. ``max_stall_ms`` is the longest step; the goal is one frame (16 ms).
``max_stall_cpu_ms`` is the longest step in GUI-thread CPU time (insensitive to other processes
preempting the GUI thread on a loaded machine).

The baseline is the pre-cache path in the same process: ``OverlayStack(cached=False)`` (every tick
smooths, normalises, colours and rebuilds the image, opacity in the colours) and no throttle
(every tick reaches the session). Run via ``python -m app.bench_viewer --only overlay`` or
``evident bench viewer``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["run_overlay_drag", "overlay_row"]


def _handle_x(slider, value: int) -> tuple[int, int]:
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    style = slider.style()
    handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, slider)
    groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, slider)
    span = groove.width() - handle.width()
    frac = (value - slider.minimum()) / (slider.maximum() - slider.minimum())
    return groove.left() + (handle.center().x() - handle.left()) + round(span * frac), handle.center().y()


def run_overlay_drag(*, cached: bool, n_cols: int = 400, n_rows: int = 250, steps: int = 100) -> dict:
    """Drag opacity then threshold on an ``n_cols x n_rows`` map; returns stall times (ms)."""
    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.window_builder import build_main_window
    from core.data.bag import FeatureBag
    from core.review.layers import scalar_layer
    from core.review.patch_grid import patch_lattice

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        w = build_main_window(settings=QSettings(str(Path(tmp) / "bench.ini"), QSettings.Format.IniFormat),
                              tile_workers=1, review=False)
        w.show()
        w.resize(1280, 720)
        if not cached:
            w.overlays.cached = False
            w.overlays.cache.enabled = False
            w.layers_panel.throttle_ms = None
        gy, gx = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
        coords = (np.stack([gx.reshape(-1), gy.reshape(-1)], axis=1) * 256).astype(np.int64)
        s = w.session
        s.bag = FeatureBag(np.zeros((coords.shape[0], 4), np.float32), coords, 256, "bench")
        s.grid = patch_lattice(coords, 256)
        s.add_layer(scalar_layer("attention", np.random.default_rng(0).random(coords.shape[0])))
        gx0, gy0, gw, gh = s.grid.rect
        w.view.show_region(gx0, gy0, gx0 + gw, gy0 + gh)
        for _ in range(5):
            app.processEvents()
        stalls: dict[str, list[float]] = {}
        cpu: list[float] = []
        for key, slider in (("opacity", w.layers_panel.opacity), ("threshold", w.layers_panel.threshold)):
            times = stalls.setdefault(key, [])
            slider.setValue(0)
            app.processEvents()
            QTest.mousePress(slider, Qt.MouseButton.LeftButton, pos=QPoint(*_handle_x(slider, 0)))
            for i in range(1, steps + 1):
                t0, c0 = time.perf_counter(), time.thread_time()
                QTest.mouseMove(slider, pos=QPoint(*_handle_x(slider, round(100 * i / steps))))
                app.processEvents()
                w.view.graphics.viewport().repaint()
                times.append((time.perf_counter() - t0) * 1000.0)
                cpu.append((time.thread_time() - c0) * 1000.0)
                time.sleep(0.004)
            t0 = time.perf_counter()
            QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=QPoint(*_handle_x(slider, 100)))
            app.processEvents()
            w.view.graphics.viewport().repaint()
            times.append((time.perf_counter() - t0) * 1000.0)
        layer = s.layer("attention").settings
        final = (layer.opacity, layer.threshold)
        image = w.overlays.items["attention"][0].image.copy()
        w.close()
    all_times = stalls["opacity"] + stalls["threshold"]
    return {"max_stall_ms": float(max(all_times)), "p95_step_ms": float(np.percentile(all_times, 95)),
            "max_stall_cpu_ms": float(max(cpu)), "opacity_max_stall_ms": float(max(stalls["opacity"])),
            "threshold_max_stall_ms": float(max(stalls["threshold"])), "final_settings": final,
            "_alpha_shown": int((image[..., 3] > 0).sum())}


def overlay_row(steps: int = 100) -> dict:
    """Ours (cached, throttled) and the pre-cache baseline in one process, as one benchmark row."""
    ours = run_overlay_drag(cached=True, steps=steps)
    base = run_overlay_drag(cached=False, steps=steps)
    shown_ours, shown_base = ours.pop("_alpha_shown"), base.pop("_alpha_shown")
    same = shown_ours == shown_base and ours["final_settings"] == base["final_settings"]
    return {"case": "overlay slider drag (100,000-patch map, opacity then threshold)",
            "ours_ms": ours["max_stall_ms"], "baseline_ms": base["max_stall_ms"],
            "speedup": base["max_stall_ms"] / max(ours["max_stall_ms"], 1e-9), "goal_ms": 16.0,
            "max_abs_diff": float(abs(shown_ours - shown_base)),  # drawn pixels of the final map, ours vs baseline
            "same_final_map": bool(same), **ours, **{f"baseline_{k}": v for k, v in base.items()}}
