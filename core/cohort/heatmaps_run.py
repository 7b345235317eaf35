"""Prepare ``evident heatmaps`` over a cohort: the cohort-scale first pass and the job.

:func:`prepare_job` builds the :class:`core.cohort.heatmaps_job.HeatmapJob` (for ``--scale cohort``
after a first pass over every evidence file, whose scales go to ``OUT/heatmap_scale.json``). The
slides then run through :mod:`core.schedule` (serial, process pool or Ray; docs/scheduler.md), which
calls the job's ``setup`` and ``run``; a failed slide is recorded in the ledger and, by the command,
in ``OUT/heatmaps_failures.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.cohort.heatmaps_inputs import HeatmapInputs
from core.cohort.heatmaps_job import HeatmapJob
from core.cohort.heatmaps_scale import SCALE_FILE, cohort_scales, write_scales

__all__ = ["FAILURES_FILE", "prepare_job"]

FAILURES_FILE = "heatmaps_failures.json"


def prepare_job(inputs: tuple[HeatmapInputs, ...], out_dir: str | Path, *, scale: str = "slide",
                maps: tuple[str, ...] = (), skip_errors: bool = False, echo: Callable[[str], None] | None = None,
                **options) -> tuple[HeatmapJob, dict[str, str]]:
    """The job for ``inputs``, and the slides that failed the first pass (``skip_errors`` only).

    ``options`` are the other :class:`HeatmapJob` fields. For ``scale="cohort"`` the scales are
    computed over every evidence file and written to ``out_dir/heatmap_scale.json``.

    Raises
    ------
    EvidentError
        Bad options, or (without ``skip_errors``) an unusable evidence file in the first pass.
    """
    failed: dict[str, str] = {}
    if scale != "cohort":
        return HeatmapJob(inputs=inputs, maps=maps, scale=scale, **options), failed
    from core.atomic import ensure_writable_dir  # local: keeps this module light

    by_file = {inp.evidence: inp.slide_id for inp in inputs}

    def on_error(path, exc):
        failed[by_file[path]] = str(exc)
        if echo is not None:
            echo(f"[scale] {by_file[path]}: FAILED: {exc}")

    scales = cohort_scales([inp.evidence for inp in inputs], maps, on_error=on_error if skip_errors else None)
    out = ensure_writable_dir(out_dir)
    write_scales(out / SCALE_FILE, scales)
    if echo is not None:
        echo("cohort scale: " + "; ".join(f"{s.name} {s.vmin:.3g} to {s.vmax:.3g}" for s in scales.values())
             + f" -> {out / SCALE_FILE}")
    job = HeatmapJob(inputs=inputs, maps=maps or tuple(scales), scale="cohort", cohort_scales=tuple(scales.values()),
                     **options)
    return job, failed


def _say(echo, line: str) -> None:
    if echo is not None:
        echo(line)
