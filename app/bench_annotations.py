"""Benchmark row: pan frame time with 10,000 annotation polygons (offscreen).

A slide view's ViewBox (invertY, locked aspect, 1000 x 700 px) shows a 100,000 x 100,000 px area
with ``n`` annotations (24-gons of 150-900 px, like cells and small regions, in 9 classes); the
view shows a quarter of the area (about 2,500 polygons) and pans 5 % of its width per step. Each
step's GUI-thread time is the range change plus one synchronous repaint of the viewport
(``repaint()``): the frame a user waits for. ``annotation_pan_p95_ms`` is the 95th percentile
(goal: one frame, 16 ms); ``..._cpu_ms``: the same in GUI-thread CPU time (insensitive to other
processes preempting the GUI thread on a loaded machine). Ours: :class:`app.annotate.overlay.AnnotationOverlay` (one path item per
class); baseline, in the same process: one item per polygon (``per_item=True``). ``sync_ms``: the
time to (re)build the items after an edit.

Run via ``python -m app.bench_viewer --only annotations`` or ``evident bench viewer``.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["annotation_pan_row", "run_annotation_pan"]


def _document(n: int, seed: int = 0):
    import shapely

    from core.review.annotation_doc import QUPATH_CLASSES, AnnotationDocument, DrawnAnnotation

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 100_000, (n, 2))
    radii = rng.uniform(75, 450, n)
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    items = []
    for (cx, cy), r, k in zip(centres, radii, rng.integers(0, len(QUPATH_CLASSES), n)):
        wobble = 1 + 0.15 * np.sin(3 * t + r)
        ring = np.column_stack([cx + r * wobble * np.cos(t), cy + r * wobble * np.sin(t)])
        items.append(DrawnAnnotation(shapely.Polygon(ring), QUPATH_CLASSES[int(k)].name))
    return AnnotationDocument(items)


def run_annotation_pan(*, per_item: bool, n: int = 10_000, steps: int = 60) -> dict:
    """Frame times (ms) of ``steps`` pans over ``n`` polygons; ``per_item`` = the baseline."""
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF
    from PySide6.QtWidgets import QApplication

    from app.annotate.overlay import AnnotationOverlay

    app = QApplication.instance() or QApplication([])
    view = pg.GraphicsView(background=(245, 245, 245))
    box = pg.ViewBox(invertY=True, lockAspect=True, enableMenu=False)
    view.setCentralItem(box)
    view.resize(1000, 700)
    view.show()
    app.processEvents()
    doc = _document(n)
    overlay = AnnotationOverlay(box, per_item=per_item)
    t0 = time.perf_counter()
    overlay.sync(doc, [])
    app.processEvents()
    sync_ms = (time.perf_counter() - t0) * 1000.0
    w = 50_000.0
    box.setRange(QRectF(10_000, 10_000, w, w * 0.7), padding=0)
    app.processEvents()
    view.viewport().repaint()
    frames, cpu = [], []
    for i in range(steps):
        x = 10_000 + (i % 30) * 0.05 * w
        t0, c0 = time.perf_counter(), time.thread_time()
        box.setRange(QRectF(x, 10_000, w, w * 0.7), padding=0)
        app.processEvents()
        view.viewport().repaint()
        frames.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.thread_time() - c0) * 1000.0)
    overlay.remove()
    view.close()
    app.processEvents()
    return {"p50_ms": float(np.percentile(frames, 50)), "p95_ms": float(np.percentile(frames, 95)),
            "p95_cpu_ms": float(np.percentile(cpu, 95)), "sync_ms": sync_ms, "items": n}


def annotation_pan_row(n: int = 10_000, steps: int = 60) -> dict:
    ours = run_annotation_pan(per_item=False, n=n, steps=steps)
    base = run_annotation_pan(per_item=True, n=n, steps=steps)
    return {"case": f"pan over {n} annotation polygons (1000 x 700 px view)",
            "annotation_pan_p95_ms": ours["p95_ms"], "annotation_pan_p50_ms": ours["p50_ms"],
            "annotation_pan_p95_cpu_ms": ours["p95_cpu_ms"],
            "baseline_annotation_pan_p95_ms": base["p95_ms"], "baseline_annotation_pan_p50_ms": base["p50_ms"],
            "baseline_annotation_pan_p95_cpu_ms": base["p95_cpu_ms"],
            "speedup_p95": base["p95_ms"] / max(ours["p95_ms"], 1e-9),
            "sync_ms": ours["sync_ms"], "baseline_sync_ms": base["sync_ms"], "goal_p95_ms": 16.0}
