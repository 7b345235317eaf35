"""``evident explain --ensemble RUN_DIR [RUN_DIR ...]``: ensemble maps written into evidence files.

Every fold model of the runs is loaded once; per slide the out-of-fold members explain the same
class and :func:`core.cohort.ensemble_evidence.ensemble_evidence` summarises their maps; the result
is merged into ``OUT/<slide_id>.evidence.h5`` (what the file holds is kept). Every input is checked
before anything is written. Docs: docs/ensemble_maps.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.atomic import check_writable_dir, ensure_writable_dir
from core.cohort.ensemble_evidence import ensemble_evidence
from core.cohort.ensemble_runs import read_members, select_members
from core.data.bags import read_bag
from core.device import pick_device
from core.errors import EvidentError
from core.evidence.evidence_file import Evidence, check_mergeable, merge_into_file
from core.explain.registry import build_explainer, canonical_method
from core.models.access import check_bag_fits, host_of
from core.models.checkpoint import checkpoint_classes, load_checkpoint

__all__ = ["run_ensemble"]


def _load_members(members, device):
    """``({name: model}, task, classes, in_dim, hidden)``; refuses members of different tasks, classes or inputs."""
    models, ref = {}, None
    for m in members:
        model, config = load_checkpoint(m.checkpoint)
        host = host_of(model)
        key = (str(config.get("task", host.config.task)), tuple(checkpoint_classes(config) or ()),
               int(host.config.in_dim))
        if ref is None:
            ref = key
        elif key != ref:
            raise EvidentError(m.checkpoint, f"member of another kind (task, classes, feature dim {key}) than "
                                             f"{members[0].name} {ref}: an ensemble needs models of one task")
        models[m.name] = model.to(device).eval()
        ref_hidden = int(host.config.hidden)
    return models, ref[0], ref[1], ref[2], ref_hidden


def run_ensemble(args: argparse.Namespace, methods: list[str], options: dict) -> int:
    """The ``--ensemble`` path of ``evident explain`` (``methods`` canonical names, ``options`` by method)."""
    if args.evidence_sets or "evidence_sets" in methods:
        raise EvidentError(None, "--ensemble computes maps only: run the evidence search with --model")
    methods = [canonical_method(m) for m in methods]
    if args.min_members < 1:
        raise EvidentError(None, f"--min-members must be at least 1, got {args.min_members}")
    device = pick_device(args.device)
    members = read_members(args.ensemble)
    models, task, classes, dim, hidden = _load_members(members, device)
    first = models[members[0].name]
    for m in methods:  # an unsupported method fails here, before any work
        build_explainer(m, first, device=device, **options.get(m, {}))
    n_out = int(host_of(first).config.n_outputs)
    if args.target is not None and not 0 <= args.target < n_out:
        raise EvidentError(members[0].checkpoint, f"target {args.target} out of range: the models have "
                                                  f"{n_out} output(s) (0..{n_out - 1})")
    out = check_writable_dir(args.out)
    jobs, seen = [], {}
    for f in args.features:  # every input checked before anything is written
        bag = read_bag(f, feature_dim=dim)
        if bag.slide_id in seen:
            raise EvidentError(f, f"slide id {bag.slide_id!r} appears twice (also {seen[bag.slide_id]})")
        seen[bag.slide_id] = f
        check_bag_fits(f, bag.features.shape[0], dim, hidden)
        ev_path = out / f"{bag.slide_id}.evidence.h5"
        check_mergeable(ev_path, Evidence(slide_id=bag.slide_id, coords=bag.coords, task=task, classes=classes))
        jobs.append((Path(f), ev_path))
    ensure_writable_dir(out)
    for i, (f, ev_path) in enumerate(jobs, 1):
        bag = read_bag(f, feature_dim=dim)
        t0 = time.perf_counter()
        ev = ensemble_evidence(bag.slide_id, bag.features, bag.coords, members, models, methods, task=task,
                               classes=classes, target=args.target, device=device, options=options,
                               with_prediction=not ev_path.exists(), min_members=args.min_members)
        merge_into_file(ev_path, ev)
        chosen, oof = select_members(members, bag.slide_id, args.min_members)
        n_oof = sum(bag.slide_id in m.test_slides for m in members)
        which = ("out-of-fold member(s)" if oof else
                 f"member(s) (all: only {n_oof} held this slide out, in-fold ones included; out_of_fold=0)")
        print(f"[{i}/{len(jobs)}] {bag.slide_id}: {len(methods)} method(s) x {len(chosen)} {which}, "
              f"{time.perf_counter() - t0:.1f} s -> {ev_path}", file=sys.stderr)
    return 0
