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
    "and write OUT/<mag>x_<px>px_0px_overlap/features_<encoder>/<slide stem>.h5, TRIDENT's layout "
    "(features (N, D) float32, coords (N, 2) int64 level-0 top-left, TRIDENT attributes). Each file is "
    "written atomically. A slide that fails prints one 'error:' line; the run stops after the slides in "
    "hand (--skip-errors: the others are still processed) and the exit status is 2. A run killed or "
    "stopped resumes where it stopped (ledger in OUT/.evident/ledger/extract). Encoders: 'builtin' (hand-made stain and texture "
    "features, no weights), 'torchscript:PATH' (a TorchScript model you trust: loading it runs its code), "
    "'timm:ARCH --weights FILE' (any timm model) or a named foundation model (uni_v1, uni_v2, conch_v1, "
    "virchow2, hoptimus0, gigapath) with --weights FILE or its Hugging Face repo in the local cache; "
    "named models bring their own input size, normalisation, patch size and magnification "
    "(docs/bring_your_own.md)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("slides", nargs="+", metavar="SLIDE", help="slide files (any format OpenSlide reads, PNG/JPEG)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--encoder", default="builtin", metavar="SPEC",
                   help="builtin (default), torchscript:PATH, timm:ARCH, uni_v1, uni_v2, conch_v1, virchow2, "
                        "hoptimus0 or gigapath")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="timm:ARCH and named encoders: weights file (.pth/.bin/.safetensors); default: the "
                        "model's Hugging Face repo in the local cache (HF_HOME)")
    p.add_argument("--allow-download", action="store_true",
                   help="fetch weights missing from the local Hugging Face cache (never done otherwise)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                   help="model encoders on CUDA: auto (the model's own, as TRIDENT runs it) or a dtype; "
                        "CPU always runs float32")
    p.add_argument("--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra timm.create_model argument, e.g. img_size=448 (repeatable)")
    p.add_argument("--magnification", type=float, default=None, metavar="X",
                   help="target magnification of the patches (default: the encoder's, else 20)")
    p.add_argument("--patch-size", type=int, default=None, metavar="PX",
                   help="patch side in pixels at the target magnification (default: the encoder's, else 256)")
    p.add_argument("--tissue-threshold", type=float, default=0.5, metavar="F",
                   help="minimum tissue fraction of a kept patch, 0..1 (default 0.5)")
    p.add_argument("--batch-size", type=int, default=64, metavar="B", help="patches per encoder batch (default 64)")
    p.add_argument("--read-threads", type=int, default=2, metavar="N", help="patch-reading threads per slide (default 2)")
    p.add_argument("--device", default="auto", help="torch device for model encoders: auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--encoder-size", type=int, default=None, metavar="PX",
                   help="torchscript/timm encoders: resize patches to PX x PX (0 = keep the patch size; "
                        "default: 224 for torchscript, the model's own for timm)")
    p.add_argument("--encoder-norm", default=None, choices=("imagenet", "clip", "none"),
                   help="torchscript/timm encoders: input normalisation (default: imagenet for "
                        "torchscript, the model's own for timm)")
    p.add_argument("--level0-magnification", type=float, default=None, metavar="X",
                   help="magnification of level 0 for slides that record neither objective power nor mpp")
    p.add_argument("--preview", action="store_true",
                   help="also write OUT/previews/<stem>.png: thumbnail, tissue mask and kept patches")
    p.add_argument("--stain-norm", default="none", choices=("none", "macenko", "reinhard"),
                   help="stain-normalise patches before encoding, one transform fitted per slide (default none; "
                        "docs/colour.md)")
    p.add_argument("--stain-target", default=None, metavar="IMAGE",
                   help="reference image of the stain normalisation (default for macenko: the standard "
                        "reference stain; reinhard needs one)")
    p.add_argument("--skip-existing", action="store_true", help="skip slides whose feature file exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_schedule_arguments(p)


def _check_options(args: argparse.Namespace) -> None:
    checks = [
        (args.magnification is None or args.magnification > 0, "--magnification must be positive"),
        (args.patch_size is None or args.patch_size >= 8, "--patch-size must be at least 8"),
        (0.0 <= args.tissue_threshold <= 1.0, "--tissue-threshold must be between 0 and 1"),
        (args.batch_size >= 1, "--batch-size must be at least 1"),
        (args.read_threads >= 1, "--read-threads must be at least 1"),
        (args.encoder_size is None or args.encoder_size >= 0, "--encoder-size must be 0 or positive"),
        (args.level0_magnification is None or args.level0_magnification > 0,
         "--level0-magnification must be positive"),
        (args.stain_norm != "reinhard" or args.stain_target is not None,
         "--stain-norm reinhard needs --stain-target IMAGE"),
        (args.stain_target is None or args.stain_norm != "none", "--stain-target needs --stain-norm"),
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
    from core.keyvalue import parse_key_values  # local: evident --help loads this module

    try:
        model_options = parse_key_values(args.encoder_option)
    except ValueError as exc:
        raise EvidentError(None, f"--encoder-option: {exc}") from None
    if args.stain_target is not None:
        from core.slide.stain import read_target_image  # local: PIL only when asked

        read_target_image(args.stain_target)  # an unreadable target is refused before any slide is read
    check_writable_dir(args.out)  # an unusable --out is reported before any slide is read
    job = ExtractJob(encoder=args.encoder, device=args.device, encoder_size=args.encoder_size,
                     encoder_norm=args.encoder_norm, target_mag=args.magnification, patch_size=args.patch_size,
                     tissue_threshold=args.tissue_threshold, batch_size=args.batch_size,
                     read_threads=args.read_threads, level0_mag=args.level0_magnification, preview=args.preview,
                     skip_existing=args.skip_existing, weights=args.weights, precision=args.precision,
                     allow_download=args.allow_download, model_options=tuple(sorted(model_options.items())),
                     stain=None if args.stain_norm == "none" else args.stain_norm,
                     stain_target=None if args.stain_target is None else str(Path(args.stain_target).resolve()),
                     progress=not args.no_progress, slides={Path(s).stem: str(s) for s in args.slides})
    return run_scheduled(job, list(job.slides), args.out, args, progress=False if args.no_progress else None)
