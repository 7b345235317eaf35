"""``evident explain``: per-patch scores of explanation methods, written into per-slide evidence files.

Writes (or extends) ``OUT/<slide_id>.evidence.h5`` (layout: :mod:`core.evidence.evidence_file`) with
``/scores/<method>`` for every requested method plus the prediction. An existing evidence file for
the slide (e.g. from ``evident recover``) keeps everything it holds; a file in OUT that belongs to
another slide (different patch coordinates) is refused. Every input is read and checked before
anything is written; the slides are jobs of :mod:`core.schedule` (resumable, docs/scheduler.md); each file is replaced atomically (:func:`core.evidence.evidence_file.merge_into_file`);
an evidence file of another model is refused; inputs are never modified.

``--evidence-sets`` (or ``evidence_sets`` among ``--methods``) also searches, guided by ``--guide``
(a method's map, computed for the predicted class), the smallest sufficient-and-necessary subset and
the evidence sets (docs/evidence_search.md) and writes them as ``/subsets/sufficient_necessary`` and
``/subsets/evidence_set_<j>`` with their S/N numbers under ``/snr/<name>`` (evidence sets of an
earlier search in the same file are replaced as a whole). Survival models: Φ is ``sigmoid(risk)``
here (no cohort scale; ``evident audit`` standardises by the cohort).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.commands._schedule_args import add_schedule_arguments, run_scheduled
from core.errors import EvidentError

NAME = "explain"
HELP = "compute explanation heatmaps (attention, gradient, IG, single, leave-one-out, LRP, ...) per slide"
DEFAULT_METHODS = "attention,gradient,grad_input,ig,single,leave_one_out,lrp,random"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="CKPT", help="model checkpoint (evident train); or --ensemble")
    p.add_argument("--ensemble", nargs="+", default=None, metavar="RUN_DIR",
                   help="instead of --model: every fold model of these `evident train` run folders; writes per "
                        "method <m>_ensemble_mean, <m>_ensemble_std (spread) and <m>_ensemble_rank_spread over the "
                        "folds that held the slide out (else all, flagged) (docs/ensemble_maps.md)")
    p.add_argument("--min-members", type=int, default=2, metavar="N",
                   help="--ensemble: use the out-of-fold members only when at least N held the slide out (default 2: "
                        "one k-fold run without repeats holds each slide out once, so all members are used, flagged)")
    p.add_argument("--features", required=True, nargs="+", metavar="H5", help="feature bags (.h5 or .pt)")
    p.add_argument("--methods", default=DEFAULT_METHODS,
                   help=f"comma-separated methods (default: {DEFAULT_METHODS}; also gce_gate, gce_subset)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--target", type=int, default=None, metavar="K", help="explained class (default: the predicted one)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--ig-method", default="riemann_middle", choices=("riemann_middle", "gausslegendre"),
                   help="quadrature of integrated gradients: riemann_middle (midpoints, default) or gausslegendre "
                        "(Captum's default, xMIL's setting)")
    p.add_argument("--ig-steps", type=int, default=50, metavar="N", help="integrated-gradients steps (default 50)")
    p.add_argument("--lrp-variant", default="xmil_code", choices=("conserving", "xmil_code"),
                   help="LRP rule: xmil_code (default: as xMIL's reference code computes it) or conserving (every "
                        "value real, relevance sums to the real logit); the two differ only on TransMIL, where "
                        "conserving is unstable on trained models (docs/explanations.md, docs/results_explain.md)")
    g = p.add_argument_group("evidence search (docs/evidence_search.md)")
    g.add_argument("--evidence-sets", action="store_true",
                   help="search the smallest sufficient-and-necessary subset and disjoint sufficient evidence sets")
    g.add_argument("--guide", default="attention", metavar="MAP", help="map that ranks the patches (default attention)")
    g.add_argument("--search", choices=("greedy", "beam"), default="greedy", help="search strategy (default greedy)")
    g.add_argument("--delta-s", type=float, default=0.05, help="sufficiency tolerance on Φ (default 0.05)")
    g.add_argument("--delta-n", type=float, default=0.25, help="necessity: removal flips the class or drops Φ by this (default 0.25)")
    g.add_argument("--k-max", type=int, default=8, help="at most this many evidence sets (default 8)")
    add_schedule_arguments(p)


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir  # local: evident --help loads this module; core.atomic only when run
    from core.data.bags import read_bag  # local: evident --help loads this module; numpy only when run
    from core.device import pick_device  # local: evident --help loads this module; core.device only when run
    from core.diagnostics.explain_job import ExplainJob  # local: evident --help loads this module

    # local: evident --help loads this module; numpy only when run
    from core.evidence.evidence_file import Evidence, check_mergeable

    # local: evident --help loads this module; torch only when run
    from core.explain.registry import build_explainer, canonical_method

    # local: evident --help loads this module; torch only when run
    from core.models.access import check_bag_fits, host_of
    from core.models.checkpoint import load_checkpoint  # local: evident --help loads this module; torch only when run

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    if (args.model is None) == (args.ensemble is None):
        raise EvidentError(None, "give either --model CKPT or --ensemble RUN_DIR ... (exactly one of them)")
    options = {"ig": {"method": args.ig_method, "n_steps": args.ig_steps}, "lrp": {"variant": args.lrp_variant}}
    if args.ensemble is not None:
        if args.ig_steps < 1:
            raise EvidentError(None, f"--ig-steps must be at least 1, got {args.ig_steps}")
        from core.cohort.ensemble_explain import (
            run_ensemble,  # local: evident --help loads this module; torch only when run
        )

        return run_ensemble(args, names, options)
    search = bool(args.evidence_sets) or "evidence_sets" in names
    methods = [canonical_method(m) for m in names if m != "evidence_sets"]
    search_cfg = _search_config(args) if search else None
    guide = canonical_method(args.guide) if search else ""
    if not methods and search:
        methods = [guide]
    if not methods:
        raise EvidentError(None, "no explanation method given (--methods)")
    device = pick_device(args.device)
    ckpt = Path(args.model)
    model, config = load_checkpoint(ckpt)
    model = model.to(device).eval()
    host = host_of(model)
    n_out = int(host.config.n_outputs)
    if args.target is not None and not 0 <= args.target < n_out:
        raise EvidentError(ckpt, f"target {args.target} out of range: the model has {n_out} output(s) (0..{n_out - 1})")
    if args.ig_steps < 1:
        raise EvidentError(None, f"--ig-steps must be at least 1, got {args.ig_steps}")
    explainers = {m: build_explainer(m, model, device=device, **options.get(m, {}))
                  for m in methods}  # unsupported methods fail here
    if search and guide not in explainers:
        build_explainer(guide, model, device=device, **options.get(guide, {}))  # an unsupported guide fails here
    dim = int(host.config.in_dim)
    out = check_writable_dir(args.out)  # before any input is read
    task = str(config.get("task", host.config.task))
    classes = tuple(str(c) for c in config.get("classes", ()))
    seen = {}
    for f in args.features:  # check every input before writing anything
        bag = read_bag(f, feature_dim=dim)
        if bag.slide_id in seen:
            raise EvidentError(f, f"slide id {bag.slide_id!r} appears twice (also {seen[bag.slide_id]})")
        seen[bag.slide_id] = f
        check_bag_fits(f, bag.features.shape[0], dim, int(host.config.hidden))
        ev_path = out / f"{bag.slide_id}.evidence.h5"
        check_mergeable(ev_path, Evidence(slide_id=bag.slide_id, coords=bag.coords, task=task, classes=classes,
                                          model=str(ckpt)))  # an earlier run's file: same slide and model
    job = ExplainJob(model=str(ckpt), device=args.device, methods=tuple(methods), target=args.target,
                     options=tuple((m, tuple(sorted(o.items()))) for m, o in sorted(options.items())),
                     search=search_cfg, guide=guide, bags={sid: str(f) for sid, f in seen.items()})
    return run_scheduled(job, list(seen), out, args)


def _search_config(args):
    # local: evident --help loads this module; torch only when run
    from core.diagnostics.evidence_search import SearchConfig

    try:
        return SearchConfig(delta_s=args.delta_s, delta_n=args.delta_n, strategy=args.search, k_max=args.k_max)
    except ValueError as exc:
        raise EvidentError(None, f"evidence search settings: {exc}") from None
