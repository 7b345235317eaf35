"""``evident extract SLIDE... --out DIR``: tissue patches -> features, one TRIDENT-style HDF5 per slide."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.commands._schedule_args import add_schedule_arguments, run_scheduled
from core.errors import EvidentError

NAME = "extract"
HELP = "extract patch features of slides into TRIDENT-style HDF5 feature files"
DESCRIPTION = (
    "For each SLIDE: detect tissue on a thumbnail, lay a non-overlapping grid of PATCH-SIZE px "
    "patches at MAGNIFICATION, keep the patches with tissue fraction >= TISSUE-THRESHOLD, encode them "
    "and write OUT/features_<encoder>/<slide stem>.h5 (features (N, D) float32, coords (N, 2) int64 "
    "level-0 top-left, TRIDENT attributes). Each file is written atomically. A slide that fails "
    "prints one 'error:' line; the run stops after the slides in hand (--skip-errors: the others are "
    "still processed) and the exit status is 2. A run killed or stopped resumes where it stopped "
    "(ledger in OUT/.evident/ledger/extract). Encoders: 'builtin' (hand-made stain and texture features, no weights) or "
    "'torchscript:PATH' (a TorchScript model you trust: loading it runs its code)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("slides", nargs="+", metavar="SLIDE", help="slide files (any format OpenSlide reads, PNG/JPEG)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--encoder", default="builtin", metavar="SPEC",
                   help="builtin (default) or torchscript:PATH")
    p.add_argument("--magnification", type=float, default=20.0, metavar="X",
                   help="target magnification of the patches (default 20)")
    p.add_argument("--patch-size", type=int, default=256, metavar="PX",
                   help="patch side in pixels at the target magnification (default 256)")
    p.add_argument("--tissue-threshold", type=float, default=0.5, metavar="F",
                   help="minimum tissue fraction of a kept patch, 0..1 (default 0.5)")
    p.add_argument("--batch-size", type=int, default=64, metavar="B", help="patches per encoder batch (default 64)")
    p.add_argument("--read-threads", type=int, default=2, metavar="N", help="patch-reading threads per slide (default 2)")
    p.add_argument("--device", default="auto", help="torch device for model encoders: auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--encoder-size", type=int, default=224, metavar="PX",
                   help="model encoders: resize patches to PX x PX (0 = keep the patch size; default 224)")
    p.add_argument("--encoder-norm", default="imagenet", choices=("imagenet", "clip", "none"),
                   help="model encoders: input normalisation (default imagenet)")
    p.add_argument("--level0-magnification", type=float, default=None, metavar="X",
                   help="magnification of level 0 for slides that record neither objective power nor mpp")
    p.add_argument("--preview", action="store_true",
                   help="also write OUT/previews/<stem>.png: thumbnail, tissue mask and kept patches")
    p.add_argument("--skip-existing", action="store_true", help="skip slides whose feature file exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_schedule_arguments(p)


def _check_options(args: argparse.Namespace) -> None:
    checks = [
        (args.magnification > 0, "--magnification must be positive"),
        (args.patch_size >= 8, "--patch-size must be at least 8"),
        (0.0 <= args.tissue_threshold <= 1.0, "--tissue-threshold must be between 0 and 1"),
        (args.batch_size >= 1, "--batch-size must be at least 1"),
        (args.read_threads >= 1, "--read-threads must be at least 1"),
        (args.encoder_size >= 0, "--encoder-size must be 0 or positive"),
        (args.level0_magnification is None or args.level0_magnification > 0,
         "--level0-magnification must be positive"),
    ]
    for ok, message in checks:
        if not ok:
            raise EvidentError(None, message)
    stems: dict[str, str] = {}
    for s in args.slides:
        stem = Path(s).stem
        if stem in stems and stems[stem] != s:
            raise EvidentError(s, f"has the same name as {stems[stem]}; their feature files would collide")
        stems[stem] = s


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir  # local: evident --help loads this module; core.atomic only when run
    from core.extract.slide_job import ExtractJob  # local: evident --help loads this module

    _check_options(args)
    check_writable_dir(args.out)  # an unusable --out is reported before any slide is read
    job = ExtractJob(encoder=args.encoder, device=args.device, encoder_size=args.encoder_size or None,
                     encoder_norm=args.encoder_norm, target_mag=args.magnification, patch_size=args.patch_size,
                     tissue_threshold=args.tissue_threshold, batch_size=args.batch_size,
                     read_threads=args.read_threads, level0_mag=args.level0_magnification, preview=args.preview,
                     skip_existing=args.skip_existing, progress=not args.no_progress,
                     slides={Path(s).stem: str(s) for s in args.slides})
    return run_scheduled(job, list(job.slides), args.out, args, progress=False if args.no_progress else None)
