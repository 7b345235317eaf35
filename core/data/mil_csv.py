"""Classic MIL benchmark CSVs (Musk1, UCSB breast, ...) turned into feature bags.

Layout (as in the ``mil`` package's data sets): no header; column 0 = bag label, column 1 = bag id,
then the instance's features; one row per instance, every row the same width. Labels are kept as
the strings the file gives (``0``/``1`` in Musk1 and UCSB breast; some sets use ``-1``/``1``).

The instances of a MIL bag have no position, so :func:`to_feature_bag` places them on a synthetic
grid (instance i at column ``i % cols``, row ``i // cols``, ``cols = ceil(sqrt(n))``, one patch
side apart) only so that the viewer can draw them; ``attrs["coords_synthetic"]`` says so.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.bag import FeatureBag
from core.errors import EvidentError

__all__ = ["MilBag", "read_mil_csv", "safe_names", "synthetic_grid_coords", "to_feature_bag"]

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


@dataclass(frozen=True, eq=False)
class MilBag:
    """One bag of a MIL CSV.

    Attributes
    ----------
    bag_id
        The id as written in column 1.
    label
        The label as written in column 0.
    features
        (n, D) float32 instance features, in file order.
    first_line
        1-based line of the bag's first instance.
    """

    bag_id: str
    label: str
    features: np.ndarray
    first_line: int


def read_mil_csv(path: str | os.PathLike) -> list[MilBag]:
    """Read a MIL CSV; bags in order of first appearance (a bag's rows need not be adjacent).

    Raises
    ------
    EvidentError
        ``"<path>: line <n>: <what>"``: empty file, fewer than 3 columns, rows of different widths,
        a non-numeric or non-finite feature, an empty label or bag id, a bag whose rows disagree
        on the label.
    """
    p = Path(path)
    rows: dict[str, list[np.ndarray]] = {}
    meta: dict[str, tuple[str, int]] = {}
    width = None
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for row in reader:
                line = reader.line_num
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                if width is None:
                    if len(cells) < 3:
                        raise EvidentError(p, f"line {line}: needs a label, a bag id and at least one feature "
                                              f"(found {len(cells)} column(s))")
                    width = len(cells)
                elif len(cells) != width:
                    raise EvidentError(p, f"line {line}: {len(cells)} columns, expected {width} like the first row")
                label, bag_id = cells[0], cells[1]
                if not label:
                    raise EvidentError(p, f"line {line}: empty bag label (column 1)")
                if not bag_id:
                    raise EvidentError(p, f"line {line}: empty bag id (column 2)")
                feats = _features(p, line, cells[2:])
                if bag_id in meta and meta[bag_id][0] != label:
                    first_label, first_line = meta[bag_id]
                    raise EvidentError(p, f"line {line}: bag {bag_id!r} has label {label!r} here "
                                          f"but {first_label!r} on line {first_line}")
                meta.setdefault(bag_id, (label, line))
                rows.setdefault(bag_id, []).append(feats)
    except FileNotFoundError:
        raise EvidentError(p, "CSV file not found") from None
    except UnicodeDecodeError:
        raise EvidentError(p, "not a text (UTF-8) CSV file") from None
    except csv.Error as exc:
        raise EvidentError(p, f"malformed CSV ({exc})") from None
    if not rows:
        raise EvidentError(p, "empty file (no instances)")
    return [MilBag(bag_id=b, label=meta[b][0], features=np.stack(r).astype(np.float32), first_line=meta[b][1])
            for b, r in rows.items()]


def _features(p: Path, line: int, cells: list[str]) -> np.ndarray:
    try:
        arr = np.array(cells, dtype=np.float64)
    except ValueError:
        for j, c in enumerate(cells):
            try:
                float(c)
            except ValueError:
                hint = " (the file must have no header row)" if line == 1 else ""
                raise EvidentError(p, f"line {line}, column {j + 3}: {c!r} is not a number{hint}") from None
        raise  # pragma: no cover - numpy and float() agree on what parses
    bad = ~np.isfinite(arr)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise EvidentError(p, f"line {line}, column {j + 3}: feature {cells[j]!r} is not finite")
    return arr


def safe_names(ids: Iterable[str]) -> dict[str, str]:
    """Map bag ids to distinct, portable file stems.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``; Windows device
    names get a ``bag_`` prefix; stems that clash (ignoring case) get ``_<8 hex of sha1(id)>``.
    """
    ids = list(dict.fromkeys(ids))
    base: dict[str, str] = {}
    for i in ids:
        s = re.sub(r"[^A-Za-z0-9._-]+", "_", i).strip("._") or "bag"
        base[i] = f"bag_{s}" if s.lower().split(".")[0] in _RESERVED else s
    used: set[str] = set()
    chosen: dict[str, str] = {}
    for unchanged_first in (True, False):
        for i in ids:
            if i in chosen or (base[i] == i) != unchanged_first:
                continue
            s = base[i]
            if s.lower() in used:
                s = f"{s}_{hashlib.sha1(i.encode('utf-8')).hexdigest()[:8]}"
            chosen[i] = s
            used.add(s.lower())
    return {i: chosen[i] for i in ids}


def synthetic_grid_coords(n: int, patch_size: int) -> tuple[np.ndarray, int, int]:
    """Synthetic placement of n instances: ``((n, 2) int64 (x, y), cols, rows)``."""
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    i = np.arange(n, dtype=np.int64)
    return np.stack([(i % cols) * patch_size, (i // cols) * patch_size], axis=1), cols, rows


def to_feature_bag(bag: MilBag, name: str, patch_size: int, source: str = "") -> FeatureBag:
    """A :class:`FeatureBag` (slide id ``name``) with the instances on a synthetic grid."""
    coords, cols, rows = synthetic_grid_coords(bag.features.shape[0], patch_size)
    attrs = {
        "patch_size": int(patch_size), "patch_size_level0": int(patch_size), "overlap": 0,
        "level0_width": cols * int(patch_size), "level0_height": rows * int(patch_size),
        "coords_synthetic": True, "mil_bag_id": bag.bag_id, "mil_label": bag.label,
    }
    return FeatureBag(features=bag.features, coords=coords, patch_size_level0=int(patch_size),
                      slide_id=name, source=source, attrs=attrs)
