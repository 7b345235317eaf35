"""Viewer benchmark group: runs ``python -m app.bench_viewer --json`` in a subprocess (core may not
import Qt) and returns its one row: ``first_frame_ms``, ``fov_fill_ms``, ``pan_frame_p50_ms``,
``pan_frame_p95_ms``, ``max_gui_stall_ms`` for the tile pool, each with a ``baseline_`` twin for the
naive viewer that reads tiles synchronously on the GUI thread, measured in the same run on the
51200 x 51200 real-tissue pyramid. ``ours_ms``/``baseline_ms`` are the field-of-view fill times;
``max_abs_diff`` compares the last frame of both sessions (same view, same tiles: 0 expected).
Also ``zoom_return_ms`` (back out to a level seen before until the view is complete),
``close_ms`` (closing a main window with a slide open) and ``quit_ms`` (window closed to the end
of an ``evident view`` process; its baseline is the normal interpreter shutdown); see
app/bench_viewer.py.
A second row (app/bench_overlay.py): ``max_stall_ms`` while an overlay slider is dragged on a
100,000-patch map, cached and throttled (``ours_ms``) vs the pre-cache path (``baseline_ms``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.errors import EvidentError

__all__ = ["GROUP", "run"]

GROUP = "viewer"
_ROOT = Path(__file__).resolve().parents[2]


def run(quick: bool = False) -> list[dict]:
    """Run the offscreen viewer session and the overlay slider drag; returns their rows."""
    cmd = [sys.executable, "-m", "app.bench_viewer", "--json"] + (["--quick"] if quick else [])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(cmd, cwd=_ROOT, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EvidentError("app.bench_viewer", f"viewer benchmark failed ({last})")
    return [json.loads(line) for line in lines]
