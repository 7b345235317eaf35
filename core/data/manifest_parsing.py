"""Row-level parsing of cohort manifests: every bad value is reported with its line number."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.errors import EvidentError

__all__ = ["parse_rows", "sort_classes"]


def parse_rows(path: Path, reader: csv.DictReader, task: str) -> Iterator[dict[str, Any]]:
    """Yield the keyword arguments of one ``ManifestRow`` per CSV row.

    Rows whose cells are all empty (trailing ``,,,`` lines spreadsheets leave) are skipped.

    Parameters
    ----------
    path
        The manifest, named in errors.
    reader
        A ``csv.DictReader`` positioned after the header.
    task
        ``"classification"``, ``"survival"``, ``"regression"`` or ``"none"``; only that task's
        columns are required (regression: ``label`` must be a finite number in every row).

    Raises
    ------
    EvidentError
        ``"<path>: line <n>: <what>"`` for the first bad row.
    """
    names = {}
    for name in reader.fieldnames or []:
        names.setdefault(name.strip().lower(), name)
    first_line: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num

        def fail(msg: str, line: int = line) -> EvidentError:
            return EvidentError(path, f"line {line}: {msg}")

        if None in raw:
            raise fail(f"{len(names) + len(raw[None])} values but the header has {len(names)} columns")
        cell = {key: (raw.get(orig) or "").strip() for key, orig in names.items()}
        if not any(cell.values()):
            continue
        sid = cell.get("slide_id", "")
        if not sid:
            raise fail("empty slide_id")
        if sid in first_line:
            raise fail(f"duplicate slide_id {sid!r} (first on line {first_line[sid]})")
        first_line[sid] = line
        values: dict[str, Any] = {"slide_id": sid, "case_id": cell.get("case_id") or sid, "line": line}
        label = cell.get("label") or None
        if task in ("classification", "regression") and label is None:
            raise fail(f"empty label for slide {sid!r}")
        if task == "regression":
            _target(label, sid, fail)
        values["label"] = label
        if task == "survival":
            values["time"] = _time(cell["time"], fail)
            values["event"] = _event(cell["event"], fail)
        values["fold"] = _fold(cell.get("fold", ""), fail)
        values["split"] = (cell.get("split") or "").lower() or None
        values["slide_path"] = cell.get("slide_path") or None
        values["features_path"] = cell.get("features_path") or None
        yield values


def sort_classes(labels: Iterable[str]) -> tuple[str, ...]:
    """Sort class labels: by number when every label is a number ("2" < "10"), else as text."""
    labels = set(labels)
    try:
        return tuple(sorted(labels, key=lambda s: (float(s), s)))
    except ValueError:
        return tuple(sorted(labels))


def _number(text: str, column: str, fail) -> float:
    if not text:
        raise fail(f"empty {column}")
    try:
        return float(text)
    except ValueError:
        raise fail(f"{column} {text!r} is not a number") from None


def _target(text: str, sid: str, fail) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise fail(f"column 'label' of slide {sid!r} is {text!r}, not a number "
                   "(--task regression needs a numeric label in every row)")
    return v


def _time(text: str, fail) -> float:
    t = _number(text, "time", fail)
    if math.isnan(t) or math.isinf(t):
        raise fail(f"time must be a finite number, found {text!r}")
    if t < 0:
        raise fail(f"time must not be negative, found {text!r}")
    return t


def _event(text: str, fail) -> int:
    e = _number(text, "event", fail)
    if e not in (0.0, 1.0):
        raise fail(f"event must be 0 or 1, found {text!r}")
    return int(e)


def _fold(text: str, fail) -> int | None:
    if not text:
        return None
    f = _number(text, "fold", fail)
    if not math.isfinite(f) or not f.is_integer() or f < 0:
        raise fail(f"fold must be a whole number >= 0, found {text!r}")
    return int(f)
