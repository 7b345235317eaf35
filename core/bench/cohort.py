"""Benchmark group ``cohort``: seconds per slide of ``evident heatmaps`` from cached evidence.

The slide is the large pyramidal TIFF built from real CMU tissue (:func:`core.slide.pyramid.large_slide_path`,
51200 x 51200 px at 0.499 µm/px; ``--quick``: 8192 x 8192); its patches are the 256-px cells of a
disk around the centre, 20,000 of them (``--quick``: 1,000). The evidence file (written once to a
temporary folder, outside the timing) holds a smooth map with noise (``attention``) and a 5 %
subset. Rows (standard format, :mod:`core.bench`):

* ``PNG + overlay TIFF``: :meth:`core.cohort.heatmaps_job.HeatmapJob.run` for one map with only the
  overview PNG (1600 px) and the overlay TIFF (and the record) against a naive per-patch loop in the
  same process: each patch's colour block painted and blended onto the same thumbnail one at a time,
  and one at a time into the patch-resolution raster (CLAM's way of drawing), then written by the
  same PNG and TIFF writers. ``max_abs_diff``: largest channel difference between the two blended
  overviews (uint8).
* ``all outputs, 1 map``: the default job (+ top-16 tile sheet and subset GeoJSON) against the
  PNG + TIFF job: the cost of the extra outputs. Its ``s_per_slide`` is the figure the goal is about.
* ``all outputs, 3 maps``: three maps (attention, a signed map, the gate) against one.

Every case runs once untimed first (imports, fonts, the slide's first reads); the cases then
alternate their order between repeats.

Extra keys: ``s_per_slide``, ``slides_per_min``, ``n_patches``, ``load_avg_1min``. The goal
(issue 20): ≤ 5 s for a 20,000-patch slide including the PNG and the pyramidal overlay.
:func:`scheduler_scaling_rows`: the work scheduler's pool / Ray scaling rows
(``core/bench/scheduling.py``), each against the serial loop in the same run.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GROUP", "bench_heatmaps", "naive_heatmap", "run", "scheduler_scaling_rows"]


GROUP = "cohort"
PATCH = 256


def _evidence(path: Path, slide_size: int, n_patches: int) -> None:
    """Write an evidence file of the ``n_patches`` 256-px cells nearest the slide's centre."""
    from core.evidence.evidence_file import Evidence, Subset, write_evidence

    n = slide_size // PATCH
    gy, gx = np.mgrid[0:n, 0:n]
    d = np.hypot(gx - (n - 1) / 2, gy - (n - 1) / 2).reshape(-1)
    cells = np.sort(np.argsort(d, kind="stable")[:n_patches])
    coords = np.stack([cells % n * PATCH, cells // n * PATCH], axis=1).astype(np.int64)  # (N, 2)
    rng = np.random.default_rng(0)
    u = coords / float(slide_size)
    att = np.sin(6 * u[:, 0]) * np.cos(4 * u[:, 1]) + 0.3 * rng.standard_normal(len(coords))
    k = max(1, len(coords) // 20)
    write_evidence(path, Evidence(
        slide_id=path.name.split(".")[0], coords=coords, scores={"attention": att, "signed": att - np.median(att)},
        gates=1.0 / (1.0 + np.exp(-att)), probs=np.array([0.2, 0.8]), classes=("a", "b"), predicted_class=1,
        subsets={"top5pct": Subset(np.sort(np.argsort(-att)[:k]).astype(np.int64))}))


def naive_heatmap(out: Path, reader, coords: np.ndarray, values: np.ndarray, width_px: int = 1600) -> np.ndarray:
    """The baseline: per-patch loops paint the overview and the raster; same writers. Returns the blended overview."""
    from core.cohort.heatmaps_overlay import write_overlay_tiff
    from core.review.export import render_figure
    from core.review.normalise import colorize, colormap_lut, normalise

    norm = normalise(values, "percentile")
    colours = colorize(norm, "viridis", opacity=0.6)
    w, h = reader.dimensions
    img_px = width_px - min(160, width_px // 4)
    thumb = reader.get_thumbnail((img_px, max(int(round(img_px * h / w)), 64))).astype(np.float32)
    sx, sy = thumb.shape[1] / w, thumb.shape[0] / h
    raster = np.zeros((math.ceil(h / PATCH), math.ceil(w / PATCH), 4), np.uint8)
    for i in np.argsort(norm, kind="stable"):  # one patch at a time, highest on top
        x, y = (int(v) for v in coords[i])
        c = colours[i].astype(np.float32)
        a = c[3] / 255.0
        # the thumbnail pixels whose centres lie in the patch
        x0, x1 = math.ceil(x * sx - 0.5), math.ceil((x + PATCH) * sx - 0.5)
        y0, y1 = math.ceil(y * sy - 0.5), math.ceil((y + PATCH) * sy - 0.5)
        block = thumb[y0:y1, x0:x1]
        block[...] = block * (1.0 - a) + c[:3] * a
        raster[y // PATCH, x // PATCH] = colours[i]
    blended = thumb.round().astype(np.uint8)
    render_figure(out / "naive.png", reader, (0.0, 0.0, float(w), float(h)), background=blended,
                  lut=colormap_lut("viridis"), colorbar_label="naive", width_px=width_px, compress_level=1)
    write_overlay_tiff(out / "naive.overlay.tiff", raster, float(PATCH), reader.mpp)
    return blended


def _job(slide: Path, evidence: Path, maps: tuple[str, ...], full: bool = True, width_px: int = 1600):
    from core.cohort.heatmaps_inputs import HeatmapInputs
    from core.cohort.heatmaps_job import HeatmapJob

    extra = {"width_px": width_px} if full else {"top_k": 0, "subsets": (), "width_px": width_px}
    return HeatmapJob(inputs=(HeatmapInputs(evidence.name.split(".")[0], evidence, slide),), maps=maps, **extra)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_heatmaps(slide: Path, n_patches: int, repeats: int = 1, width_px: int = 1600) -> list[dict[str, Any]]:
    """The three rows for ``n_patches`` patches on ``slide`` (medians over ``repeats``, after one warm-up;
    overview PNGs ``width_px`` wide)."""
    from core.cohort.heatmaps_overlay import blend_on, overlay_raster
    from core.evidence.evidence_file import read_evidence
    from core.review.normalise import colorize, normalise
    from core.slide.reader import open_slide

    with tempfile.TemporaryDirectory(prefix="evident-bench-cohort-") as tmp:
        root = Path(tmp)
        ev_path = root / "bench_slide.evidence.h5"
        with open_slide(slide) as r:
            size = r.dimensions[0]
        _evidence(ev_path, size, n_patches)
        ev = read_evidence(ev_path)
        blended: list[np.ndarray] = []

        def naive(out: Path) -> None:
            out.mkdir()
            with open_slide(slide) as r:
                blended.append(naive_heatmap(out, r, ev.coords, ev.scores["attention"], width_px))

        def job(out: Path, maps: tuple[str, ...], full: bool) -> None:
            j = _job(slide, ev_path, maps, full, width_px)
            j.run(j.setup(), j.slide_ids[0], out)

        cases = {"naive": lambda o: naive(o), "png_tiff": lambda o: job(o, ("attention",), False),
                 "full": lambda o: job(o, ("attention",), True),
                 "three": lambda o: job(o, ("attention", "signed", "gate"), True)}
        for name, fn in cases.items():  # warm-up: imports, fonts, the slide's first reads
            fn(root / f"warm_{name}")
        times: dict[str, list[float]] = {k: [] for k in cases}
        for rep in range(repeats):
            order = list(cases) if rep % 2 == 0 else list(cases)[::-1]
            for name in order:
                times[name].append(_timed(lambda name=name, rep=rep: cases[name](root / f"{name}{rep}")))
        with open_slide(slide) as r:  # our blended overview, for the difference to the baseline's
            w, h = r.dimensions
            norm = normalise(ev.scores["attention"], "percentile")
            raster, q = overlay_raster(ev.coords, PATCH, colorize(norm, "viridis", opacity=0.6), r.dimensions,
                                       order=norm)
            thumb = r.get_thumbnail((blended[-1].shape[1], blended[-1].shape[0]))
            ours = blend_on(thumb, raster, q, (w, h))
        diff = float(np.abs(ours.astype(int) - blended[-1].astype(int)).max())
    med = {k: float(np.median(v)) for k, v in times.items()}
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    common = {"n_patches": int(ev.n_patches), "slide": f"{slide.name} {size}x{size}", "repeats": repeats,
              "load_avg_1min": load}

    def row(case: str, ours: str, base: str, d: float) -> dict[str, Any]:
        return {"case": case, "ours_ms": 1e3 * med[ours], "baseline_ms": 1e3 * med[base],
                "speedup": med[base] / med[ours], "max_abs_diff": d, "s_per_slide": med[ours],
                "slides_per_min": 60.0 / med[ours], **common}

    n = ev.n_patches
    return [row(f"heatmaps PNG + overlay TIFF, 1 map, {n} patches: job vs naive per-patch loop", "png_tiff", "naive",
                diff),
            row(f"heatmaps all outputs (+ top-16 sheet, GeoJSON), 1 map, {n} patches: vs PNG + TIFF only", "full",
                "png_tiff", math.nan),
            row(f"heatmaps all outputs, 3 maps, {n} patches: vs 1 map", "three", "full", math.nan)]


def scheduler_scaling_rows(quick: bool) -> list[dict[str, Any]]:
    """The work scheduler's rows: slides/min of the process pool and of Ray with 1 and 2 workers,
    each against the serial loop in the same run, and whether they wrote the same bytes
    (:func:`core.bench.scheduling.scheduling_bench`; docs/scheduler.md)."""
    from core.bench.scheduling import scheduling_bench  # local: Ray only when this group runs

    return scheduling_bench(quick)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The cohort group: 20,000 patches on the 51200² slide (``quick``: 1,000 on the 8192² one)."""
    from core.slide.pyramid import large_slide_path

    if quick:
        rows = bench_heatmaps(large_slide_path(8192), 1_000, repeats=1)
    else:
        rows = bench_heatmaps(large_slide_path(51200), 20_000, repeats=3)
    return rows + scheduler_scaling_rows(quick)
