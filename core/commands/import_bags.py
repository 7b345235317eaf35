"""``evident import-bags``: turn a MIL benchmark CSV into per-bag HDF5 files and a manifest.

Writes ``OUT/features/<bag>.h5`` (TRIDENT layout; instances on a synthetic grid, see
:mod:`core.data.mil_csv`) and ``OUT/manifest.csv`` (``slide_id``, ``case_id``, ``label``,
``features_path``). Everything is written into a temporary folder inside ``OUT`` first and moved
into place only when complete, so a failure or Ctrl-C leaves no partial output; the folder a run
killed outright (SIGKILL) left behind is removed by the next run (:func:`core.atomic.staging_dir`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections import Counter
from pathlib import Path

from core.commands._argtypes import positive_int
from core.errors import EvidentError

NAME = "import-bags"
HELP = "convert a MIL CSV (label, bag id, features; no header) into per-bag HDF5 files + manifest.csv"
DESCRIPTION = (
    "Convert a multiple-instance-learning CSV (no header; column 1 = bag label, column 2 = bag id, "
    "then the instance features; one row per instance, as in Musk1 or UCSB breast) into "
    "OUT/features/<bag>.h5 (TRIDENT layout) and OUT/manifest.csv. Instances have no position in a "
    "MIL CSV: they are laid out on a synthetic square grid so that they can be drawn."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv", metavar="CSV", help="MIL CSV file (no header)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (features/ and manifest.csv go here)")
    p.add_argument("--patch-size", type=positive_int, default=256,
                   help="side of each synthetic grid cell in pixels (default: 256)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT/features and OUT/manifest.csv")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # local: evident --help loads this module; tqdm only when run

    # local: evident --help loads this module; core.atomic only when run
    from core.atomic import check_writable_dir, ensure_writable_dir, staging_dir
    from core.data.bags import write_bag  # local: evident --help loads this module; numpy only when run

    # local: evident --help loads this module; core.data.manifest only when run
    from core.data.manifest import ManifestRow, write_manifest

    # local: evident --help loads this module; core.data.manifest_parsing only when run
    from core.data.manifest_parsing import sort_classes

    # local: evident --help loads this module; numpy only when run
    from core.data.mil_csv import read_mil_csv, safe_names, to_feature_bag

    src, out = Path(args.csv), check_writable_dir(args.out)
    features_dir, manifest = out / "features", out / "manifest.csv"
    if not args.overwrite:
        for existing in (features_dir, manifest):
            if existing.exists():
                raise EvidentError(existing, "already exists; pass --overwrite to replace it")
    bags = read_mil_csv(src)
    created = not out.exists()
    ensure_writable_dir(out)
    names = safe_names(b.bag_id for b in bags)
    done = False
    try:
        with staging_dir(out, "import-bags") as tmp:  # also removes what a killed earlier run left there
            rows = []
            for bag in tqdm(bags, desc="writing bags", unit="bag", file=sys.stderr, disable=None):
                name = names[bag.bag_id]
                write_bag(tmp / "features" / f"{name}.h5", to_feature_bag(bag, name, args.patch_size, str(src)))
                rows.append(ManifestRow(slide_id=name, case_id=name, label=bag.label, features_path=f"features/{name}.h5"))
            write_manifest(tmp / "manifest.csv", rows)
            if features_dir.exists():
                if not features_dir.is_dir():
                    raise EvidentError(features_dir, "exists and is not a folder")
                os.replace(features_dir, tmp / "old-features")
            os.replace(tmp / "features", features_dir)
            os.replace(tmp / "manifest.csv", manifest)
            done = True
    finally:
        if created and not done:
            with contextlib.suppress(OSError):
                out.rmdir()
    counts = Counter(b.label for b in bags)
    sizes = [b.features.shape[0] for b in bags]
    print(f"{len(bags)} bags, {sum(sizes)} instances ({min(sizes)}-{max(sizes)} per bag), "
          f"{bags[0].features.shape[1]} features")
    print("labels: " + ", ".join(f"{c} ({counts[c]})" for c in sort_classes(counts)))
    print(f"wrote {features_dir} and {manifest}")
    return 0
