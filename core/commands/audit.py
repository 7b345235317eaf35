"""``evident audit``: a cohort report on how faithful a model's explanations and evidence are.

Writes ``OUT/per_slide.csv``, ``OUT/cohort.json``, ``OUT/summary.md`` and ``OUT/aupc.png``,
``OUT/snr.png``, ``OUT/failures.png`` (:mod:`core.diagnostics.report`). Every slide's features are
found and checked before the long computation starts; the report appears only when complete (an
error or Ctrl-C leaves no partial output); inputs are never modified.
"""

from __future__ import annotations

import argparse

NAME = "audit"
HELP = "audit explanations and evidence over a cohort (AUPC, S/N/R, minimal subsets, failures)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, metavar="CSV", help="cohort manifest (slide_id, label, ...)")
    p.add_argument("--features", required=True, metavar="DIR", help="folder of feature bags")
    p.add_argument("--model", required=True, metavar="CKPT", help="model checkpoint (evident train)")
    p.add_argument("--out", required=True, metavar="DIR", help="report folder")
    p.add_argument("--methods", default="attention,gradient,grad_input,ig,single,leave_one_out,lrp,random",
                   help="comma-separated explanation methods (unsupported ones are skipped)")
    p.add_argument("--fraction", type=float, default=0.05, help="same-budget fraction (default 0.05)")
    p.add_argument("--minimal-k", default="8,16,32", help="minimal-subset sizes k (default 8,16,32; empty: skip)")
    p.add_argument("--annotations", default=None, metavar="DIR",
                   help="folder of <slide_id>.geojson region annotations: adds localisation per method "
                        "(coverage, precision, relevance mass, Dice, FROC, each with its chance level)")
    p.add_argument("--max-slides", type=int, default=None, help="audit only the first N slides")


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from core.data.bags import read_bag
    from core.data.feature_search import find_feature_file
    from core.data.manifest import read_manifest
    from core.diagnostics.audit import (
        AuditConfig,
        audit_slide,
        build_explainers,
        summarise_audit,
    )
    from core.diagnostics.report import write_report
    from core.errors import EvidentError
    from core.explain.model_access import check_bag_fits, host_of
    from core.explain.registry import canonical_method
    from core.models.checkpoint import load_checkpoint

    methods = tuple(canonical_method(m) for m in args.methods.split(",") if m.strip())
    if not 0.0 < args.fraction < 1.0:
        raise EvidentError(None, f"--fraction must lie strictly between 0 and 1, got {args.fraction}")
    try:
        ks = tuple(int(k) for k in args.minimal_k.split(",") if k.strip())
    except ValueError:
        raise EvidentError(None, f"--minimal-k must be whole numbers separated by commas, got {args.minimal_k!r}") from None
    manifest = read_manifest(args.manifest)
    model, config = load_checkpoint(args.model)
    model = model.eval()
    host = host_of(model)
    dim = int(host.config.in_dim)
    rows = list(manifest.rows)[: args.max_slides] if args.max_slides else list(manifest.rows)
    if not rows:
        raise EvidentError(args.manifest, "the manifest lists no slides")
    jobs = []
    for row in rows:  # find and check every input first
        path = manifest.resolve(row.features_path) if row.features_path else find_feature_file(row.slide_id, args.features)
        if path is None or not Path(path).is_file():
            raise EvidentError(args.features, f"no feature file for slide {row.slide_id!r}")
        bag = read_bag(path, feature_dim=dim)
        check_bag_fits(path, bag.features.shape[0], dim, int(host.config.hidden))
        label = manifest.label_index(row) if manifest.task == "classification" and row.label is not None else None
        jobs.append((row.slide_id, path, label))
    masks, sizes = {}, {}
    if args.annotations:
        from types import SimpleNamespace

        from core.train.annotation_masks import annotation_masks, infer_patch_size

        bags = []
        for sid, path, _ in jobs:
            b = read_bag(path, feature_dim=dim)
            sizes[sid] = b.patch_size_level0 or infer_patch_size(b.coords)
            bags.append(SimpleNamespace(slide_id=sid, coords=b.coords))
        masks = _masks_by_size(annotation_masks, bags, args.annotations, sizes)
    cfg = AuditConfig(methods=methods, fraction=args.fraction, minimal_k=ks)
    explainers = build_explainers(model, methods)
    task = str(config.get("task", host.config.task))
    risk_scale = (0.0, 1.0)
    if task != "classification":
        import numpy as np
        import torch

        with torch.no_grad():
            risks = [float(host(torch.from_numpy(read_bag(p, feature_dim=dim).features)).output[0]) for _, p, _ in jobs]
        risk_scale = (float(np.mean(risks)), float(np.std(risks)) or 1.0)
    slides, t0 = [], time.perf_counter()
    for i, (sid, path, label) in enumerate(jobs, 1):
        bag = read_bag(path, feature_dim=dim)
        slides.append(audit_slide(model, explainers, sid, bag.features, bag.coords, label, cfg, risk_scale,
                                  truth=masks.get(sid), patch_size=sizes.get(sid)))
        print(f"[{i}/{len(jobs)}] {sid} ({bag.features.shape[0]} patches, {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    files = write_report(args.out, [s.csv_row() for s in slides], summarise_audit(slides, task))
    print("\n".join(str(f) for f in files))
    return 0



def _masks_by_size(annotation_masks, bags, folder, sizes):
    """Patch masks per slide, each bag with its own patch size (feature files may differ)."""
    from core.errors import EvidentError

    out = {}
    for size in sorted({sizes[b.slide_id] for b in bags}, key=lambda v: (v is None, v or 0)):
        group = [b for b in bags if sizes[b.slide_id] == size]
        out.update(annotation_masks(group, folder, patch_size=size, require_any=False))
    if not out:
        raise EvidentError(folder, "holds no <slide_id>.geojson for any slide of the manifest")
    return out
