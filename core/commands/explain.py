"""``evident explain``: per-patch scores of explanation methods, written into per-slide evidence files.

Writes (or extends) ``OUT/<slide_id>.evidence.h5`` (layout: :mod:`core.evidence.evidence_file`) with
``/scores/<method>`` for every requested method plus the prediction. An existing evidence file for
the slide (e.g. from ``evident recover``) keeps everything it holds; a file in OUT that belongs to
another slide (different patch coordinates) is refused. Every input is read and checked before
anything is written; each file is replaced atomically; inputs are never modified.
"""

from __future__ import annotations

import argparse

NAME = "explain"
HELP = "compute explanation heatmaps (attention, gradient, IG, single, leave-one-out, LRP, ...) per slide"
DEFAULT_METHODS = "attention,gradient,grad_input,ig,single,leave_one_out,lrp,random"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="CKPT", help="model checkpoint (evident train)")
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
    p.add_argument("--lrp-variant", default="conserving", choices=("conserving", "xmil_code"),
                   help="LRP rule: conserving (every value real, relevance sums to the real logit; default) or "
                        "xmil_code (TransMIL as xMIL's code computes it; same as conserving on the other hosts); "
                        "docs/explanations.md")


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from dataclasses import replace
    from pathlib import Path

    import numpy as np
    import torch

    from core.atomic import ensure_writable_dir
    from core.data.bags import read_bag
    from core.device import pick_device
    from core.errors import EvidentError
    from core.evidence.evidence_file import Evidence, read_evidence, write_evidence
    from core.explain.model_access import check_bag_fits, host_of
    from core.explain.registry import build_explainer, canonical_method
    from core.models.checkpoint import load_checkpoint

    methods = [canonical_method(m) for m in args.methods.split(",") if m.strip()]
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
    options = {"ig": {"method": args.ig_method, "n_steps": args.ig_steps}, "lrp": {"variant": args.lrp_variant}}
    explainers = {m: build_explainer(m, model, device=device, **options.get(m, {}))
                  for m in methods}  # unsupported methods fail here
    dim = int(host.config.in_dim)
    out = Path(args.out)
    bags, seen = [], {}
    for f in args.features:  # check every input before writing anything
        bag = read_bag(f, feature_dim=dim)
        if bag.slide_id in seen:
            raise EvidentError(f, f"slide id {bag.slide_id!r} appears twice (also {seen[bag.slide_id]})")
        seen[bag.slide_id] = f
        check_bag_fits(f, bag.features.shape[0], dim, int(host.config.hidden))
        ev_path = out / f"{bag.slide_id}.evidence.h5"
        if ev_path.exists():
            read_evidence(ev_path, coords=bag.coords)
        bags.append((Path(f), ev_path))
    ensure_writable_dir(out)
    task = str(config.get("task", host.config.task))
    classes = tuple(str(c) for c in config.get("classes", ()))
    for i, (f, ev_path) in enumerate(bags, 1):
        bag = read_bag(f, feature_dim=dim)
        t0 = time.perf_counter()
        scores = {m: ex.attribute(bag.features, bag.coords, target=args.target) for m, ex in explainers.items()}
        with torch.no_grad():
            ctx = explainers[methods[0]].prepare(bag.features, bag.coords, args.target)
        raw = ctx.output.cpu().double().numpy()
        if task == "classification":
            pred = {"probs": torch.softmax(ctx.output, 0).cpu().numpy(), "predicted_class": int(np.argmax(raw))}
        else:
            pred = {"risk": raw.astype(np.float32), "predicted_class": -1}
        if ev_path.exists():
            old = read_evidence(ev_path, coords=bag.coords)
            ev = replace(old, scores={**old.scores, **scores}, **pred)
        else:
            ev = Evidence(slide_id=bag.slide_id, coords=bag.coords, task=task, classes=classes, scores=scores,
                          model=str(ckpt), **pred)
        write_evidence(ev_path, ev)
        print(f"[{i}/{len(bags)}] {bag.slide_id}: {len(methods)} method(s), {bag.features.shape[0]} patches, "
              f"{time.perf_counter() - t0:.1f} s -> {ev_path}", file=sys.stderr)
    return 0
