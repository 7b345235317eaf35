"""The scheduling options of the per-slide commands (extract, explain, recover, audit), defined once,
and how a command runs its job with them and reports the outcome (docs/scheduler.md)."""

from __future__ import annotations

import argparse
import os
import sys

from core.commands._argtypes import positive_int

__all__ = ["add_schedule_arguments", "run_and_report", "run_scheduled"]

ENGINE_CHOICES = ("serial", "pool", "ray")


def add_schedule_arguments(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--workers``, ``--skip-errors``, ``--address``."""
    g = p.add_argument_group("scheduling (docs/scheduler.md): a ledger in OUT/.evident/ledger makes a run resumable")
    g.add_argument("--engine", choices=ENGINE_CHOICES, default="pool",
                   help="pool (default): local processes, one per GPU (without CUDA: this process); serial: this "
                        "process; ray: a Ray cluster (pip install 'evident[cluster]')")
    g.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="worker processes or Ray actors (default: one per GPU; 1 without CUDA)")
    g.add_argument("--skip-errors", action="store_true",
                   help="record a failing slide with its error and go on (default: stop after the slides in hand)")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="--engine ray: the cluster (host:6379 or ray://host:10001; default: RAY_ADDRESS, else a "
                        "local one)")


def run_scheduled(job, slide_ids, out_dir: str | os.PathLike, args: argparse.Namespace, *,
                  progress: bool | None = None) -> int:
    """Run ``job`` on ``slide_ids`` with the command's scheduling options; print each failure as one
    ``error:`` line on stderr (and why the run stopped); return 2 when a slide failed or was not
    started, else 0."""
    summary = run_and_report(job, slide_ids, out_dir, args, progress=progress)
    return 2 if summary.failed or summary.not_started else 0


def run_and_report(job, slide_ids, out_dir: str | os.PathLike, args: argparse.Namespace, *,
                   progress: bool | None = None):
    """As :func:`run_scheduled`, returning the :class:`core.schedule.LedgerSummary` (for a command
    that reports its own counts)."""
    from core.schedule import ledger_folder, run_jobs  # local: evident --help loads the commands

    if args.address is not None and args.engine != "ray":
        from core.errors import EvidentError

        raise EvidentError(None, "--address is for --engine ray")
    summary = run_jobs(job, slide_ids, out_dir, engine=args.engine, workers=args.workers,
                       skip_errors=args.skip_errors, address=args.address, progress=progress)
    folder = ledger_folder(out_dir, job.name)
    if summary.already_done:
        print(f"{summary.already_done} slide(s) already done by an earlier run with these settings, left as they "
              f"are (ledger: {folder})", file=sys.stderr)
    if summary.busy:
        print(f"{summary.busy} slide(s) in progress in another run on this folder were left to it", file=sys.stderr)
    for _, error in summary.failures:
        print(f"error: {error}", file=sys.stderr)
    if summary.not_started:
        print(f"error: stopped after the failure: {summary.not_started} slide(s) not started (run again to resume; "
              f"--skip-errors goes on past bad slides; ledger: {folder})", file=sys.stderr)
    return summary
