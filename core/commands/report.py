"""``evident report``: one self-contained HTML evidence report per slide, and an index for the cohort.

Reads evidence files (``evident explain`` / ``recover``), and optionally a manifest (truth labels and
``slide_path``: tissue overviews, top-k tiles, the artifact flag) and a folder of
``<slide_id>.geojson`` annotations (outlines and localisation). Writes ``OUT/<slide_id>.html``,
``OUT/<slide_id>.summary.json`` and ``OUT/index.html``, each atomically. The slides run through the
scheduler (``--engine serial|pool|ray``, ``--workers``; docs/scheduler.md): a slide already reported
from the same inputs and settings is skipped (resuming), ``--skip-errors`` records a failing slide (in
the ledger) and goes on, and the exit status is 2 when any slide failed. Without ``--skip-errors``
every evidence file is read and checked before the first page is written. The index is written once
at the end from the pages present, listing failed slides. Pages inline their pictures (base64 PNG)
and load nothing from the network. Docs: docs/reports.md; the work per slide:
:class:`core.cohort.report_job.ReportJob`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.commands._argtypes import positive_int
from core.commands._schedule_args import add_schedule_arguments, run_and_report
from core.errors import EvidentError

NAME = "report"
HELP = "write a self-contained HTML evidence report per slide (maps, S/N/R, failure flags, top tiles) and an index"
EVIDENCE_SUFFIXES = (".evidence.h5", "_evidence.h5")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--evidence", required=True, nargs="+", metavar="PATH",
                   help="evidence files, or folders of <slide_id>.evidence.h5 files")
    p.add_argument("--manifest", default=None, metavar="CSV",
                   help="cohort manifest: report its slides only, with their truth label and slide_path")
    p.add_argument("--annotations", default=None, metavar="DIR",
                   help="folder of <slide_id>.geojson region annotations: outlines and localisation numbers")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--top-k", type=int, default=8, metavar="K", help="patches shown for the primary map (default 8)")
    p.add_argument("--maps", default=None, metavar="A,B", help="maps to show (default: every map of the file)")
    p.add_argument("--size", type=positive_int, default=360, metavar="PX", help="overview side in pixels (default 360)")
    add_schedule_arguments(p)


def _evidence_files(paths: list[str]) -> list[Path]:
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.name.endswith(EVIDENCE_SUFFIXES))
            if not found:
                raise EvidentError(p, "holds no <slide_id>.evidence.h5 file")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise EvidentError(p, "evidence file or folder not found")
    return files


def _slide_id(f: Path, skip_errors: bool) -> str:
    """The slide id an evidence file holds (which checks the file); with ``skip_errors`` an unreadable
    file is named by its stem instead, and fails when its slide is reported (recorded, not fatal)."""
    from core.evidence.evidence_file import read_evidence  # local: evident --help loads this module; h5py only when run

    try:
        return read_evidence(f).slide_id
    except EvidentError:
        if not skip_errors:
            raise
        from core.review.matching import slide_stem  # local: evident --help loads this module

        return slide_stem(f)


def _inputs(args) -> list:
    from core.cohort.report_job import ReportInputs  # local: evident --help loads this module; numpy only when run
    from core.data.manifest import read_manifest  # local: evident --help loads this module

    by_id: dict[str, Path] = {}
    for f in _evidence_files(args.evidence):
        sid = _slide_id(f, args.skip_errors)
        if sid in by_id:
            raise EvidentError(f, f"a second evidence file for slide {sid!r} (also {by_id[sid]})")
        by_id[sid] = f
    ann = Path(args.annotations) if args.annotations else None
    if ann is not None and not ann.is_dir():
        raise EvidentError(ann, "is not a folder of <slide_id>.geojson annotations")

    def annotation(sid: str) -> str | None:
        p = ann / f"{sid}.geojson" if ann is not None else None
        return str(p) if p is not None and p.is_file() else None

    if args.manifest is None:
        return [ReportInputs(sid, str(f), annotations=annotation(sid)) for sid, f in by_id.items()]
    manifest = read_manifest(args.manifest)
    out = []
    for row in manifest.rows:
        if row.slide_id not in by_id:
            raise EvidentError(args.manifest, f"line {row.line}: slide {row.slide_id!r} has no evidence file among "
                                              f"{', '.join(args.evidence)}")
        slide = manifest.resolve(row.slide_path)
        if slide is not None and not slide.is_file():
            raise EvidentError(args.manifest, f"slide file of {row.slide_id!r} not found: {slide}")
        out.append(ReportInputs(row.slide_id, str(by_id[row.slide_id]), None if slide is None else str(slide),
                               annotation(row.slide_id), row.label if manifest.task == "classification" else None))
    return out


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir, ensure_writable_dir  # local: evident --help loads this module

    # local: evident --help loads this module; numpy only when run
    from core.cohort.report_job import ReportJob, write_index

    if args.top_k < 0:
        raise EvidentError(None, f"--top-k must be 0 or more, got {args.top_k}")
    out = check_writable_dir(args.out)
    slides = _inputs(args)
    maps = tuple(m.strip() for m in args.maps.split(",") if m.strip()) if args.maps else None
    job = ReportJob(tuple(slides), top_k=args.top_k, maps=maps, max_side=args.size)
    if maps is not None and not args.skip_errors:  # every slide holds the maps asked for: checked before the first page
        from core.evidence.evidence_file import read_evidence  # local: h5py only when run

        for s in slides:
            ev = read_evidence(s.evidence)
            held = set(ev.scores) | ({"gate"} if ev.gates is not None else set())
            missing = [m for m in maps if m not in held]
            if missing:
                raise EvidentError(s.evidence, f"holds no map {', '.join(missing)} (it holds: {', '.join(sorted(held))})")
    ensure_writable_dir(out)
    todo = job.slide_ids()  # the ledger skips slides reported earlier from the same inputs and settings
    summary = run_and_report(job, todo, out, args)
    failures = dict(summary.failures)
    unfinished = [sid for sid in todo if sid not in failures and not job.is_done(sid, out)]
    index = write_index(out, failures, unfinished)
    line = f"{summary.done} report(s) written, {summary.already_done} already done"
    if failures:
        line += f", {len(failures)} failed (listed in {index})"
    print(line, file=sys.stderr)
    print(index)
    return 2 if failures or summary.not_started else 0
