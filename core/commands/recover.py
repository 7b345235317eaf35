"""``evident recover``: gate, recover and measure the evidence of slides under a GCE checkpoint.

Writes ``OUT/<slide_id>.evidence.h5`` per feature file (layout: :mod:`core.evidence.evidence_file`),
each atomically, one slide per job of :mod:`core.schedule` (resumable; docs/scheduler.md). Every input
is read and checked before anything is written, so a bad file among many leaves no output behind;
inputs are never modified.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.commands._argtypes import open_fraction, positive_int
from core.commands._schedule_args import add_schedule_arguments, run_scheduled
from core.errors import EvidentError

NAME = "recover"
HELP = "recover GCE evidence subsets per slide and write evidence HDF5 files"
DESCRIPTION = (
    "For each feature bag, run a GCE checkpoint, threshold its gates and greedily repair anchor "
    "coverage (threshold plus repair), and write OUT/<slide_id>.evidence.h5 with the prediction, "
    "gates, anchor responses, coverage, the recovered subset with the reason repair stopped, an "
    "attention top-k subset of the same size, and keep-only / complement / C-D gap numbers."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="CKPT", help="GCE checkpoint (evident train --gce)")
    p.add_argument("--features", required=True, nargs="+", metavar="H5", help="feature bags (.h5 or .pt)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--threshold", type=open_fraction, default=None, help="gate threshold τ (default: the checkpoint's, 0.5)")
    p.add_argument("--coverage-target", type=open_fraction, default=None, help="coverage target c (default: the checkpoint's, 0.95)")
    p.add_argument("--max-size", type=positive_int, default=None, help="cap on the subset size (default: ceil(0.2 N))")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_schedule_arguments(p)


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir  # local: evident --help loads this module; core.atomic only when run
    from core.data.bags import read_bag  # local: evident --help loads this module; numpy only when run
    from core.diagnostics.recover_job import RecoverJob  # local: evident --help loads this module

    # local: evident --help loads this module; numpy only when run
    from core.evidence.evidence_file import Evidence, check_mergeable
    from core.models.checkpoint import load_checkpoint  # local: evident --help loads this module; torch only when run
    from core.models.gce import GCEModel  # local: evident --help loads this module; torch only when run

    ckpt = Path(args.model)
    if not ckpt.is_file():
        raise EvidentError(ckpt, "checkpoint not found")
    model, config = load_checkpoint(ckpt)
    if "gce" not in config or not isinstance(model, GCEModel):
        raise EvidentError(ckpt, "not a GCE checkpoint (train it with evident train --gce)")
    overrides = {k: v for k, v in (("threshold", args.threshold), ("coverage_target", args.coverage_target)) if v is not None}
    dim = int(config["host_config"]["in_dim"])
    paths = [Path(f) for f in args.features]
    ids: dict[str, Path] = {}
    for p in paths:  # check every input before writing anything
        bag = read_bag(p, feature_dim=dim)
        if bag.slide_id in ids:
            raise EvidentError(p, f"slide id {bag.slide_id!r} appears twice (also {ids[bag.slide_id]})")
        ids[bag.slide_id] = p
    task = str(config.get("task", model.host.config.task))
    classes = tuple(config.get("classes", ()))
    check_writable_dir(args.out)
    for sid, p in ids.items():  # an earlier file there must be of the same slide and model (merged, never lost)
        check_mergeable(Path(args.out) / f"{sid}.evidence.h5", Evidence(
            slide_id=sid, coords=read_bag(p, feature_dim=dim).coords, task=task, classes=classes, model=str(ckpt)))
    job = RecoverJob(model=str(ckpt), device=args.device, overrides=tuple(sorted(overrides.items())),
                     max_size=args.max_size, bags={sid: str(p) for sid, p in ids.items()})
    return run_scheduled(job, list(ids), args.out, args)
