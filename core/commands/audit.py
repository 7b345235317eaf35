"""``evident audit``: a cohort report on how faithful a model's explanations and evidence are.

A manifest ``slide_path`` adds the per-patch tissue fraction (the slide's tissue mask) that feeds the
``artifact_evidence`` failure flag; a survival model needs the manifest's ``time`` and ``event``.
Writes ``OUT/per_slide.csv``, ``OUT/cohort.json``, ``OUT/summary.md`` and ``OUT/aupc.png``,
``OUT/snr.png``, ``OUT/failures.png`` (:mod:`core.diagnostics.report`). Every slide's features are
found and checked before the long computation starts; the slides are jobs of :mod:`core.schedule`
(docs/scheduler.md): a run stopped by an error or Ctrl-C keeps the finished slides in
``OUT/.evident/ledger/audit`` and the next run does only the rest; the report appears only when
complete (then the ledger is removed); inputs are never modified.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

from core.commands._schedule_args import add_schedule_arguments, run_scheduled
from core.errors import EvidentError

NAME = "audit"
HELP = "audit explanations and evidence over a cohort (AUPC, S/N/R, minimal subsets, evidence sets, failures)"


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
    p.add_argument("--min-tissue", type=float, default=0.5,
                   help="artifact evidence: a selected patch with a smaller tissue fraction (from the manifest's "
                        "slide_path) is artifact (default 0.5)")
    p.add_argument("--artifact-share", type=float, default=0.5,
                   help="artifact evidence: flag a slide when more than this share of its evidence is artifact (default 0.5)")
    p.add_argument("--necessity-classes", default="default", metavar="WHICH",
                   help="predicted classes judged for low necessity: 'default' (all but the negative class 0 of a "
                        "binary classifier, which has no evidence to remove), 'all', or comma-separated class names")
    p.add_argument("--max-slides", type=int, default=None, help="audit only the first N slides")
    p.add_argument("--evidence-guide", default=None, metavar="MAP",
                   help="map that guides the evidence-set search (one of --methods; default attention when it is "
                        "among them; 'none' skips the search)")
    p.add_argument("--delta-s", type=float, default=0.05, help="evidence search: sufficiency tolerance on Φ (default 0.05)")
    p.add_argument("--delta-n", type=float, default=0.25,
                   help="evidence search: necessity, removal flips the class or drops Φ by this (default 0.25)")
    p.add_argument("--k-max", type=int, default=8, help="evidence search: at most this many sets per slide (default 8)")
    add_schedule_arguments(p)


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir  # local: evident --help loads this module; core.atomic only when run
    from core.data.bags import read_bag  # local: evident --help loads this module; numpy only when run

    # local: evident --help loads this module; core.data.manifest only when run
    from core.data.manifest import read_manifest
    from core.diagnostics.audit import AuditConfig, summarise_audit  # local: evident --help loads this module

    # local: evident --help loads this module; torch only when run
    from core.diagnostics.audit_job import AuditInputs, AuditJob, read_slide_result, slide_result_path

    # local: evident --help loads this module; numpy only when run
    from core.diagnostics.failures import FailureThresholds
    from core.diagnostics.report import write_report  # local: evident --help loads this module; numpy only when run
    from core.explain.registry import canonical_method  # local: evident --help loads this module; torch only when run

    # local: evident --help loads this module; torch only when run
    from core.models.access import as_tensor_bag, check_bag_fits, host_of

    # local: evident --help loads this module; torch only when run
    from core.models.checkpoint import checkpoint_classes, load_checkpoint

    check_writable_dir(args.out)  # an unusable --out is reported before the work, not after it
    methods = tuple(canonical_method(m) for m in args.methods.split(",") if m.strip())
    if not 0.0 < args.fraction < 1.0:
        raise EvidentError(None, f"--fraction must lie strictly between 0 and 1, got {args.fraction}")
    try:
        ks = tuple(int(k) for k in args.minimal_k.split(",") if k.strip())
    except ValueError:
        raise EvidentError(None, f"--minimal-k must be whole numbers separated by commas, got {args.minimal_k!r}") from None
    for name in ("min_tissue", "artifact_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise EvidentError(None, f"--{name.replace('_', '-')} must lie in [0, 1], got {getattr(args, name)}")
    if args.evidence_guide is None:
        guide = "attention" if "attention" in methods else None
    else:
        guide = None if args.evidence_guide.strip().lower() == "none" else canonical_method(args.evidence_guide)
    if guide is not None and guide not in methods:
        raise EvidentError(None, f"--evidence-guide {guide!r} is not among --methods ({', '.join(methods)})")
    # local: evident --help loads this module; torch only when run
    from core.diagnostics.evidence_search import SearchConfig

    try:
        search = SearchConfig(delta_s=args.delta_s, delta_n=args.delta_n, k_max=args.k_max)
    except ValueError as exc:
        raise EvidentError(None, f"evidence search settings: {exc}") from None
    model, config = load_checkpoint(args.model)
    model = model.eval()
    host = host_of(model)
    dim = int(host.config.in_dim)
    task = str(config.get("task", host.config.task))
    model_classes = checkpoint_classes(config)  # output c is model_classes[c]; labels match by name
    necessity = _necessity_classes(args.necessity_classes, model_classes or ())
    # a survival model needs time + event per slide (the columns `evident train --task survival` reads);
    # a regression model a numeric label per slide (`evident train --task regression`)
    manifest = read_manifest(args.manifest, task=task if task in ("survival", "regression") else None)
    rows = list(manifest.rows)[: args.max_slides] if args.max_slides else list(manifest.rows)
    if not rows:
        raise EvidentError(args.manifest, "the manifest lists no slides")
    jobs, geometry = [], {}  # geometry: slide id -> (coords (N, 2), patch_size_level0 or None), read once here
    for row in rows:  # find and check every input first
        path = manifest.feature_file(row, args.features)  # names the path tried, or the folder searched
        bag = read_bag(path, feature_dim=dim)
        check_bag_fits(path, bag.features.shape[0], dim, int(host.config.hidden))
        label = (manifest.label_index(row, model_classes) if manifest.task == "classification" and row.label is not None
                 else manifest.value(row) if manifest.task == "regression" else None)  # classes matched by name
        slide = manifest.resolve(row.slide_path) if row.slide_path else None
        if slide is not None and not Path(slide).is_file():
            raise EvidentError(args.manifest, f"slide file of {row.slide_id!r} not found: {slide}")
        jobs.append((row.slide_id, path, label, row.time, row.event, slide))
        geometry[row.slide_id] = (bag.coords, bag.patch_size_level0)
    masks, sizes = {}, {}
    if args.annotations:
        # local: evident --help loads this module; numpy only when run
        from core.train.annotation_masks import annotation_masks, infer_patch_size

        bags = []
        for sid, *_ in jobs:
            coords, size = geometry[sid]
            sizes[sid] = size or infer_patch_size(coords)
            bags.append(SimpleNamespace(slide_id=sid, coords=coords))
        masks = _masks_by_size(annotation_masks, bags, args.annotations, sizes)
    artifacts = {}  # slide id -> SlideArtifactSource (core.diagnostics.artifacts), for slides whose file the manifest names
    for sid, path, _, _, _, slide in jobs:
        if slide is not None:
            # local: evident --help loads this module; numpy only when run
            from core.diagnostics.artifacts import SlideArtifactSource

            # local: evident --help loads this module; numpy only when run
            from core.train.annotation_masks import infer_patch_size

            coords, size = geometry[sid]
            size = size or infer_patch_size(coords)
            if size is None:
                raise EvidentError(path, "patch size unknown (no patch_size_level0 attribute, one patch only)")
            artifacts[sid] = SlideArtifactSource(str(slide), coords, int(size))  # scored in the slide's job
    thresholds = FailureThresholds(min_tissue=args.min_tissue, artifact_share=args.artifact_share,
                                   necessity_classes=necessity)
    cfg = AuditConfig(methods=methods, fraction=args.fraction, minimal_k=ks, thresholds=thresholds,
                      search_guide=guide, search=search)
    risk_scale = (0.0, 1.0)
    if task == "survival":  # Φ = sigmoid of the risk standardised over the cohort's full-bag risks
        import numpy as np  # local: evident --help loads this module; numpy only when run
        import torch  # local: evident --help loads this module; torch only when run

        from core.models.access import bag_output  # local: evident --help loads this module; torch only when run

        with torch.no_grad():
            risks = []
            for _, p, *_ in jobs:
                b = read_bag(p, feature_dim=dim)
                risks.append(float(bag_output(model, *as_tensor_bag(b.features, b.coords))[0]))
        risk_scale = (float(np.mean(risks)), float(np.std(risks)) or 1.0)
    job = AuditJob(model=str(args.model), config=cfg, risk_scale=risk_scale, dim=dim, slides={
        sid: AuditInputs(str(path), label, t_surv, e_surv, masks.get(sid), sizes.get(sid), artifacts.get(sid))
        for sid, path, label, t_surv, e_surv, _ in jobs})
    # the slides are jobs of core.schedule (resumable: docs/scheduler.md); the report is written from all of them
    status = run_scheduled(job, list(job.slides), args.out, args)
    if status:
        return status
    missing = [sid for sid in job.slides if not slide_result_path(args.out, sid).is_file()]
    if missing:  # held by another run on this folder (run_scheduled said so): no report from part of the cohort
        raise EvidentError(args.out, f"{len(missing)} slide(s) are being audited by another run on this folder; "
                                     "run again when it has finished")
    slides = [read_slide_result(args.out, sid) for sid in job.slides]
    summary = summarise_audit(slides, task)
    summary["settings"] = {"task": task, "fraction": args.fraction, "min_tissue": args.min_tissue,
                           "artifact_share": args.artifact_share, "necessity_classes": args.necessity_classes,
                           "slides_with_tissue_mask": len(artifacts),
                           "evidence_search": {} if guide is None else {"guide": guide, "delta_s": search.delta_s,
                                                                         "delta_n": search.delta_n, "k_max": search.k_max}}
    if model_classes:  # per_slide.csv's label/predicted are indices into these
        summary["classes"] = list(model_classes)
    files = write_report(args.out, [s.csv_row() for s in slides], summary)
    if "evidence_sets" in summary:
        # local: evident --help loads this module; numpy only when run
        from core.diagnostics.report import evidence_sets_line

        print("evidence sets: " + evidence_sets_line(summary["evidence_sets"], {}).strip(), file=sys.stderr)
    print("\n".join(str(f) for f in files))
    _remove_ledger(Path(args.out))
    return 0


def _remove_ledger(out: Path) -> None:
    """The report is complete: the per-slide results and the audit ledger are no longer needed."""
    import shutil  # local: evident --help loads this module

    from core.schedule import ledger_folder  # local: evident --help loads this module

    shutil.rmtree(ledger_folder(out, "audit"), ignore_errors=True)
    for folder in (out / ".evident" / "ledger", out / ".evident"):
        try:
            folder.rmdir()  # only when empty: another job's ledger there stays
        except OSError:
            break


def _necessity_classes(value: str, classes) -> str | tuple[int, ...]:
    """``--necessity-classes``: ``"default"``, ``"all"`` or class names (the checkpoint's) -> indices."""
    value = value.strip()
    if value.lower() in ("default", "all"):
        return value.lower()
    names = [str(c) for c in classes]
    out = []
    for token in (t.strip() for t in value.split(",") if t.strip()):
        if token not in names:
            raise EvidentError(None, f"--necessity-classes: unknown class {token!r} (the model's classes: "
                                     f"{', '.join(names) or 'none'}; or use 'default' / 'all')")
        out.append(names.index(token))
    if not out:
        raise EvidentError(None, "--necessity-classes is empty (use 'default', 'all' or class names)")
    return tuple(out)


def _masks_by_size(annotation_masks, bags, folder, sizes):
    """Patch masks per slide, each bag with its own patch size (feature files may differ)."""
    out = {}
    for size in sorted({sizes[b.slide_id] for b in bags}, key=lambda v: (v is None, v or 0)):
        group = [b for b in bags if sizes[b.slide_id] == size]
        out.update(annotation_masks(group, folder, patch_size=size, require_any=False))
    if not out:
        raise EvidentError(folder, "holds no <slide_id>.geojson for any slide of the manifest")
    return out
