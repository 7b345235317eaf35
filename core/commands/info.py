"""``evident info SLIDE``: print a slide's metadata as JSON (and check that its tiles decode)."""

from __future__ import annotations

import argparse

NAME = "info"
HELP = "print a slide's metadata (dimensions, levels, mpp, objective, vendor) as JSON"
DESCRIPTION = (
    "Open SLIDE (any format OpenSlide reads, or PNG/JPEG), decode its coarsest level as a check, and "
    "print its metadata as JSON: dimensions, level_count, level_dimensions, level_downsamples, mpp, "
    "objective_power, vendor, format, associated_images, path."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("slide", help="the slide file")


def run(args: argparse.Namespace) -> int:
    import json  # local: evident --help loads this module; json only when run

    from core.slide.reader import open_slide  # local: evident --help loads this module; openslide only when run

    with open_slide(args.slide) as reader:
        _check_decodes(reader)
        meta = reader.metadata()
    print(json.dumps(meta, indent=2, ensure_ascii=False))
    return 0


def _check_decodes(reader) -> None:
    """Decode the coarsest level (whole if at most 4096 x 4096, else its centre 4096 x 4096).

    A slide whose tiles are corrupt opens fine and fails only when read; this makes ``info`` say so.
    """
    level = reader.level_count - 1
    w, h = reader.level_dimensions[level]
    ds = reader.level_downsamples[level]
    cw, ch = min(w, _CHECK), min(h, _CHECK)
    x, y = (w - cw) // 2, (h - ch) // 2
    reader.read_region((int(x * ds), int(y * ds)), level, (cw, ch))


_CHECK = 4096
