"""``evident bench [GROUP] [--quick] [--json]``: run benchmark groups from :mod:`core.bench`."""

from __future__ import annotations

import argparse
import math
from typing import Any

from core.errors import EvidentError

NAME = "bench"
HELP = "run benchmarks (each against a baseline measured in the same run) and print ratios"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("group", nargs="?", default=None, help="benchmark group (default: every group)")
    p.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json  # local: evident --help loads this module; json only when run

    from core.bench import ROW_KEYS, discover  # local: evident --help loads this module; core.bench only when run

    groups = discover()
    if args.group is not None and args.group not in groups:
        raise EvidentError(args.group, f"unknown benchmark group (known: {', '.join(groups) or 'none'})")
    names = [args.group] if args.group else list(groups)
    rows: list[dict[str, Any]] = []
    for name in names:
        for row in groups[name].run(quick=bool(args.quick)):
            missing = [k for k in ROW_KEYS if k not in row]
            if missing:
                raise RuntimeError(f"benchmark group {name} returned a row without {missing}")
            rows.append({"group": name, **row})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v == 0 or 1e-3 <= abs(v) < 1e6:
            return f"{v:.4g}"
        return f"{v:.3e}"
    return str(v)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned text table: group, the standard columns, then any extra keys."""
    if not rows:
        return "(no benchmark rows)"
    cols = ["group", "case", "ours_ms", "baseline_ms", "speedup", "max_abs_diff"]
    for row in rows:
        cols += [k for k in row if k not in cols]
    cells = [[_fmt(row.get(c, "")) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(row[c], (int, float)) for row in rows if c in row) for c in cols]

    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()

    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)])
