"""``run_jobs``: one per-slide job over a cohort, serially, in a local process pool or on Ray (docs/scheduler.md)."""

from __future__ import annotations

import os
import pickle
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from core.atomic import ensure_writable_dir
from core.errors import EvidentError
from core.schedule.job import SlideJob, job_input_key, job_settings_key
from core.schedule.ledger import Ledger, ledger_folder
from core.schedule.slide_step import SlideResult, do_slide

__all__ = ["run_jobs", "LedgerSummary", "default_workers", "ENGINES"]

ENGINES = ("serial", "pool", "ray")


class LedgerSummary(NamedTuple):
    """Counts of one :func:`run_jobs` call.

    ``done``: slides done by this run; ``already_done``: recorded done by an earlier run (same
    settings and inputs); ``failed``: failed in this run (recorded with their error); ``busy``: held by another
    live run, left to it; ``not_started``: never handed out because the run stopped at a failure;
    ``failures``: ``(slide_id, error)`` of each failure, in the order they happened.
    """

    done: int
    already_done: int
    failed: int
    busy: int
    not_started: int
    failures: tuple[tuple[str, str], ...] = ()

    @property
    def complete(self) -> bool:
        """Every slide is done (now or before)."""
        return self.failed == self.busy == self.not_started == 0


def default_workers() -> tuple[int, list[int]]:
    """Workers of the local pool when not given, and the GPU of each: one per CUDA GPU; without
    CUDA 1 (torch already spreads one slide over every core; ask for N CPU workers with
    ``workers=N``, e.g. for jobs that spend their time reading slides)."""
    from core.device import cuda_device_count  # local: imports torch; only when the count is needed

    gpus = cuda_device_count()
    return (gpus, list(range(gpus))) if gpus else (1, [])


def run_jobs(job: SlideJob, slide_ids: Sequence[str], out_dir: str | os.PathLike, *,
             engine: Literal["serial", "pool", "ray"] = "pool", workers: int | None = None,
             skip_errors: bool = False, address: str | None = None,
             progress: bool | Callable[[SlideResult], None] | None = None) -> LedgerSummary:
    """Run ``job`` on every slide of ``slide_ids`` not yet recorded done in ``out_dir``'s ledger under
    its settings and inputs (the job's ``input_key``, where it has one: docs/scheduler.md).

    Parameters
    ----------
    engine
        ``"serial"``: this process, one slide after another. ``"pool"``: ``workers`` spawned
        processes (default :func:`default_workers`: one per GPU; when that default is 1, as
        without CUDA, the work is done in this process, as ``"serial"``). ``"ray"``: actors on a Ray cluster
        (``address``; default one actor per GPU of the cluster, else per CPU).
    skip_errors
        ``False``: after the first failure no further slide is started; the slides in hand finish.
        ``True``: a failed slide is recorded with its error and the others go on.
    progress
        ``True``: a progress bar on stderr; a callable gets each :class:`SlideResult` (in this
        process); ``None``: a bar only when stderr is a terminal; ``False``: nothing.

    Returns
    -------
    LedgerSummary
        The counts; the failures are also in the ledger (``OUT/.evident/ledger/<job>/``).

    Raises
    ------
    EvidentError
        Unknown engine, bad worker count, a slide id given twice, an unwritable ``out_dir``, a
        job that cannot be pickled or set up.
    """
    if engine not in ENGINES:
        raise EvidentError(None, f"unknown engine {engine!r} (use {', '.join(ENGINES)})")
    if workers is not None and workers < 1:
        raise EvidentError(None, f"--workers must be at least 1, got {workers}")
    ids = [str(s) for s in slide_ids]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        twice = next(s for s in ids if s in seen or seen.add(s))
        raise EvidentError(None, f"slide id {twice!r} appears twice in the run")
    new_dirs = _missing_dirs(Path(out_dir), ledger_folder(out_dir, str(job.name)))
    out = ensure_writable_dir(out_dir)
    ledger = Ledger(out, str(job.name), job_settings_key(job), uuid.uuid4().hex[:12])
    keys = {s: job_input_key(job, s) for s in ids}  # once, here: every engine records the same keys
    already = _outputs_there(job, ledger, ledger.done_ids(keys) & set(ids))
    _adopt_inputs(ledger, already, keys)
    todo = [s for s in ids if s not in already]
    counts = {"done": 0, "already_done": len(ids) - len(todo), "failed": 0, "busy": 0}
    failures: list[tuple[str, str]] = []
    bar = _bar(progress, len(ids), len(ids) - len(todo), str(job.name))
    callback = progress if callable(progress) else None

    def report(result: SlideResult) -> None:
        counts[result.status] += 1
        if result.status == "failed":
            failures.append((result.slide_id, result.error or ""))
        if bar is not None:
            bar.update(1)
        if callback is not None:
            callback(result)

    try:
        todo_keyed = [(s, keys[s]) for s in todo]
        left = _run(engine, job, todo_keyed, ledger, workers, address, not skip_errors, report) if todo else []
    except BaseException:
        if not (counts["done"] or counts["failed"]):  # the job could not start (setup failed): leave nothing
            _remove_empty(new_dirs)
        raise
    finally:
        if bar is not None:
            bar.close()
    return LedgerSummary(counts["done"], counts["already_done"], counts["failed"], counts["busy"], len(left),
                         tuple(failures))


def _outputs_there(job: SlideJob, ledger: Ledger, done: set[str]) -> set[str]:
    """``done`` less the slides whose outputs the job finds incomplete (its optional
    ``outputs_complete(slide_id, out_dir)``); their records are removed, so that they are done again."""
    check = getattr(job, "outputs_complete", None)
    if check is None:
        return done
    gone = {s for s in done if not check(s, ledger.out_dir)}
    for s in sorted(gone):
        ledger.forget(s)
    return done - gone


def _adopt_inputs(ledger: Ledger, done: set[str], keys: dict[str, str | None]) -> None:
    """Give the done records written without an input key (earlier versions) the current one."""
    for s in sorted(done):
        key = keys.get(s)
        if key is not None:
            rec = ledger.record(s)
            if rec is not None and rec.get("input") is None:
                ledger.adopt_input(s, key)


def _run(engine, job, todo, ledger, workers, address, stop_on_failure, report) -> list[str]:
    """Run ``todo``, ``(slide_id, input_key)`` pairs, on ``engine``; return the slide ids never handed out."""
    if engine == "pool":
        n, gpus = default_workers()
        n = n if workers is None else workers
        if workers is None and n == 1:
            engine = "serial"  # one worker: this process (no spawn, no second copy of the model)
        else:
            from core.schedule.local_pool import run_pool  # local: multiprocessing only when used

            n = min(n, len(todo))
            gpus = [gpus[i % len(gpus)] for i in range(n)] if gpus else []
            return run_pool(_pickled(job), todo, ledger, n, gpus, stop_on_failure, report)
    if engine == "ray":
        from core.schedule.ray_engine import run_ray  # local: Ray only when used

        return run_ray(_pickled(job), todo, ledger, workers, address, stop_on_failure, report)
    state = job.setup()
    for i, (slide, key) in enumerate(todo):
        result = do_slide(job, state, ledger, slide, key)
        report(result)
        if stop_on_failure and result.status == "failed":
            return [s for s, _ in todo[i + 1:]]
    return []


def _missing_dirs(out: Path, ledger_dir: Path) -> list[Path]:
    """The folders from ``out`` down to ``ledger_dir`` (and above ``out``) that do not exist yet,
    deepest first: what a run creates, and removes again when its job cannot even start."""
    chain = [ledger_dir, *ledger_dir.parents]
    stop = next((i for i, p in enumerate(chain) if p.exists()), len(chain))
    return chain[:stop]


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first; a folder someone else filled meanwhile stays
        try:
            d.rmdir()
        except FileNotFoundError:
            continue  # never created (the ledger folder is made on the first record)
        except OSError:
            return


def _pickled(job: SlideJob) -> bytes:
    try:
        return pickle.dumps(job)
    except Exception as exc:
        raise EvidentError(None, f"the {job.name} job cannot be sent to workers ({type(exc).__name__}: {exc})") from None


def _bar(progress, total: int, initial: int, name: str):
    if progress is False or callable(progress) or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm  # local: tqdm only when a bar is shown

    return tqdm(total=total, initial=initial, desc=name, unit="slide", file=sys.stderr)

