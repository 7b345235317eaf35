"""Run ``evident heatmaps`` over a cohort: the cohort-scale first pass, then one slide after another.

:func:`prepare_job` builds the :class:`core.cohort.heatmaps_job.HeatmapJob` (for ``--scale cohort``
after a first pass over every evidence file, whose scales go to ``OUT/heatmap_scale.json``);
:func:`run_serial` runs it slide by slide in this process, printing one progress line per slide
(``[i/n] <slide>: ...``, as ``evident explain`` and ``evident audit`` do), skipping slides already
done, and with ``skip_errors`` recording each failed slide in ``OUT/heatmaps_failures.json`` and
going on. A scheduler (pool, Ray) runs the same job by calling ``setup`` and ``run`` itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.cohort.heatmaps_inputs import HeatmapInputs
from core.cohort.heatmaps_job import HeatmapJob
from core.cohort.heatmaps_scale import SCALE_FILE, cohort_scales, write_scales
from core.errors import EvidentError

__all__ = ["FAILURES_FILE", "RunSummary", "prepare_job", "run_serial"]

FAILURES_FILE = "heatmaps_failures.json"


@dataclass
class RunSummary:
    """What a run did: slide ids drawn, skipped (already done) and failed (id -> error text)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


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


def run_serial(job: HeatmapJob, out_dir: str | Path, *, skip_errors: bool = False,
               echo: Callable[[str], None] | None = None, failed: dict[str, str] | None = None) -> RunSummary:
    """Draw every slide of ``job`` in this process, in order.

    Parameters
    ----------
    failed
        Slides that already failed (the first pass); they are not tried again and are recorded.

    Raises
    ------
    EvidentError
        The first failing slide's error, without ``skip_errors``.
    """
    from core.atomic import atomic_write_json  # local: keeps this module light

    out = Path(out_dir)  # created by the first slide's outputs (a run that fails first leaves no folder)
    summary = RunSummary(failed=dict(failed or {}))
    state = job.setup()
    n = len(job.inputs)
    for i, sid in enumerate(job.slide_ids, 1):
        if sid in summary.failed:
            continue
        if job.is_done(sid, out):
            summary.skipped.append(sid)
            _say(echo, f"[{i}/{n}] {sid}: already done, skipped")
            continue
        t0 = time.perf_counter()
        try:
            job.run(state, sid, out)
        except EvidentError as exc:
            if not skip_errors:
                raise
            summary.failed[sid] = str(exc)
            _say(echo, f"[{i}/{n}] {sid}: FAILED: {exc}")
            continue
        summary.done.append(sid)
        _say(echo, f"[{i}/{n}] {sid}: {time.perf_counter() - t0:.1f} s -> {out / sid}")
    failures = out / FAILURES_FILE
    if summary.failed:
        atomic_write_json(failures, {"failed": summary.failed})
    else:
        failures.unlink(missing_ok=True)
    return summary


def _say(echo, line: str) -> None:
    if echo is not None:
        echo(line)
