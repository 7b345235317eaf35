"""``evident heatmaps``: what a person looks at for every slide of a cohort, from its evidence files.

Per slide ``S`` under ``OUT/S/``: ``S.<map>.png`` (slide overview with the map, colour bar and
normalisation in words, subset and annotation outlines), ``S.<map>.overlay.tiff`` (pyramidal RGBA
overlay at patch resolution that OpenSlide and QuPath place on the slide), ``S.<map>.top<k>.png``
(tile sheet of the top-k patches), ``S.subset.<name>.geojson`` (QuPath), ``heatmaps.json`` (record,
written last). ``--scale cohort`` fixes one colour scale per map over the cohort (first pass; written
to ``OUT/heatmap_scale.json``). Slides already done with the same inputs and settings are skipped;
outputs are atomic. The slides run through the scheduler (``--engine serial|pool|ray``, ``--workers``;
docs/scheduler.md): ``--skip-errors`` records a failed slide (in the ledger and in
``OUT/heatmaps_failures.json``) and goes on; the exit status is 2 when any slide failed. Layout and
choices: docs/heatmaps.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.commands._argtypes import positive_int
from core.commands._schedule_args import add_schedule_arguments, run_and_report
from core.errors import EvidentError

NAME = "heatmaps"
HELP = "write heatmap PNGs, QuPath/OpenSlide overlay TIFFs, top-k tile sheets and subset GeoJSON per slide"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--evidence", required=True, nargs="+", metavar="PATH",
                   help="evidence files or folders (with --manifest: the one folder holding <slide_id>.evidence.h5)")
    p.add_argument("--manifest", default=None, metavar="CSV", help="cohort manifest (slide_id, slide_path, ...)")
    p.add_argument("--slides", default=None, metavar="DIR", help="folder of slide files <slide_id>.<svs|tiff|...>")
    p.add_argument("--features", default=None, metavar="DIR",
                   help="folder of feature bags (optional: gives the patch size; else inferred from the coordinates)")
    p.add_argument("--annotations", default=None, metavar="DIR", help="folder of <slide_id>.geojson/.xml annotations")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--maps", default="", help="comma-separated maps (/scores/<name> or gate; default: every map)")
    p.add_argument("--scale", choices=("slide", "cohort"), default="slide",
                   help="colour scale per slide (default) or one fixed across the cohort (first pass)")
    p.add_argument("--subsets", default=None,
                   help="comma-separated subsets to outline and export (default: all; 'none': no subsets)")
    p.add_argument("--width", type=positive_int, default=1600, help="overview PNG width in px (default 1600)")
    p.add_argument("--top-k", type=int, default=16, help="patches on the tile sheet (default 16; 0: no sheet)")
    p.add_argument("--px-per-patch", type=positive_int, default=1, help="overlay TIFF pixels per patch side (default 1)")
    p.add_argument("--opacity", type=float, default=0.6, help="alpha of the map colours, 0-1 (default 0.6)")
    add_schedule_arguments(p)


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir  # local: evident --help loads this module; core.atomic only when run

    # local: evident --help loads this module; core.cohort only when run
    from core.cohort.heatmaps_inputs import inputs_from_evidence_files, inputs_from_manifest
    from core.cohort.heatmaps_run import FAILURES_FILE, prepare_job  # local: as above

    check_writable_dir(args.out)
    if args.manifest:
        if len(args.evidence) != 1:
            raise EvidentError(None, "with --manifest, --evidence is the one folder holding the evidence files")
        inputs = inputs_from_manifest(args.manifest, args.evidence[0], slides_dir=args.slides,
                                      features_dir=args.features, annotations_dir=args.annotations)
    else:
        if args.slides is None:
            raise EvidentError(None, "without --manifest, --slides (the folder of slide files) is needed")
        inputs = inputs_from_evidence_files(args.evidence, slides_dir=args.slides, features_dir=args.features,
                                            annotations_dir=args.annotations)
    maps = tuple(m.strip() for m in args.maps.split(",") if m.strip())
    subsets = None
    if args.subsets is not None:
        subsets = () if args.subsets.strip().lower() == "none" else tuple(
            s.strip() for s in args.subsets.split(",") if s.strip())
    echo = lambda line: print(line, file=sys.stderr)  # noqa: E731
    out = Path(args.out)
    existed = out.exists()
    try:
        job, failed = prepare_job(inputs, out, scale=args.scale, maps=maps, skip_errors=args.skip_errors, echo=echo,
                                  subsets=subsets, width_px=args.width, top_k=args.top_k,
                                  px_per_patch=args.px_per_patch, opacity=args.opacity)
    except EvidentError:
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that failed before drawing anything leaves no empty folder
        raise
    for error in failed.values():  # the cohort-scale first pass (--skip-errors): recorded, not retried
        print(f"error: {error}", file=sys.stderr)
    # the ledger skips the slides done with these settings and inputs (the job's input_key: the digest
    # heatmaps.json records) whose outputs are all there (outputs_complete)
    todo = [sid for sid in job.slide_ids if sid not in failed]
    summary = run_and_report(job, todo, out, args)
    failures = {**failed, **dict(summary.failures)}
    if not args.skip_errors and failures:
        return 2  # the error (and why the run stopped) is said; nothing more is written
    if failures:
        from core.atomic import atomic_write_json  # local: keeps evident --help light

        atomic_write_json(out / FAILURES_FILE, {"failed": failures})
    else:
        (out / FAILURES_FILE).unlink(missing_ok=True)
    line = f"{summary.done} slide(s) drawn, {summary.already_done} already done"
    if failures:
        line += f", {len(failures)} failed (see {args.out}/{FAILURES_FILE})"
    print(line, file=sys.stderr)
    print(args.out)
    return 2 if failures or summary.not_started else 0
