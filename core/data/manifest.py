"""Cohort manifests: one CSV row per slide with its label (or survival time/event) and paths.

Columns (header names are matched case-insensitively; unknown columns are ignored):

``slide_id`` (required), ``label`` (classification; a number per slide for regression, which is
only chosen by name: ``task="regression"``) or ``time`` + ``event`` (survival),
``case_id`` (default: the slide id; splits are made per case), ``split``, ``fold``,
``slide_path``, ``features_path`` (relative paths are relative to the manifest's folder, see
:meth:`Manifest.resolve`).

:func:`read_manifest` checks what every use needs (columns, ids, numbers). What only training
needs (two classes or more; at least one event) is checked by :meth:`Manifest.validate_for_training`
so that a single-class cohort can still be reviewed.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import atomic_write_text
from core.data.feature_search import find_feature_file
from core.data.manifest_parsing import parse_rows, sort_classes
from core.errors import EvidentError

__all__ = ["ManifestRow", "Manifest", "read_manifest", "write_manifest", "TASKS"]

#: Tasks a manifest can describe; ``"none"`` is a manifest without labels (review only).
TASKS = ("classification", "survival", "regression", "none")


@dataclass(frozen=True)
class ManifestRow:
    """One slide of a cohort (``None`` where the manifest has no value)."""

    slide_id: str
    case_id: str
    label: str | None = None
    time: float | None = None
    event: int | None = None
    slide_path: str | None = None
    features_path: str | None = None
    fold: int | None = None
    split: str | None = None
    #: Line of the CSV the row came from (``None`` for rows made in code); not part of equality.
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Manifest:
    """A validated cohort manifest.

    Attributes
    ----------
    path
        The CSV it was read from.
    rows
        One row per slide, in file order; slide ids are unique.
    task
        ``"classification"``, ``"survival"``, ``"regression"`` or ``"none"``.
    classes
        Sorted distinct labels (numerically when every label is a number), ``()`` unless
        classification.
    """

    path: Path
    rows: tuple[ManifestRow, ...]
    task: str
    classes: tuple[str, ...]

    def label_index(self, row: ManifestRow, classes: tuple[str, ...] | list[str] | None = None) -> int:
        """Index of ``row.label`` among ``classes``, matched by name.

        Parameters
        ----------
        classes
            The class names the index refers to: a model's ``config["classes"]`` when a model
            scores the cohort (its output ``c`` is ``classes[c]``); ``None`` uses the manifest's
            own sorted :attr:`classes` (training, where the model is built from them).
            Labels match by exact name, or by number when both are numbers (``"1"`` = ``"1.0"``).

        Raises
        ------
        EvidentError
            ``"<manifest>: line <n>: slide '<id>': label '<x>' is not one of the model's classes
            (<known>)"`` for a missing or unknown label.
        """
        known = tuple(str(c) for c in (self.classes if classes is None else classes))
        index = _match_label(row.label, known)
        if index is None:
            where = f"line {row.line}: " if row.line is not None else ""
            whose = "the manifest's" if classes is None else "the model's"
            shown = ", ".join(repr(c) for c in known) or "none"
            what = "has no label" if row.label is None else f"label {row.label!r} is not one of {whose} classes"
            raise EvidentError(self.path, f"{where}slide {row.slide_id!r}: {what} ({whose} classes: {shown})")
        return index

    def resolve(self, value: str | None) -> Path | None:
        """A ``slide_path``/``features_path`` value as a path (relative ones from the manifest's folder)."""
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.path.parent / p

    def feature_file(self, row: ManifestRow, features_dir: str | os.PathLike | None) -> Path:
        """The feature file of ``row``: its ``features_path`` or, without one, the search under ``features_dir``.

        Raises
        ------
        EvidentError
            Naming the path that was tried and the manifest row (``features_path`` given but no
            such file), or the folder searched (no ``features_path``; nothing found there).
        """
        where = f"line {row.line}, " if row.line is not None else ""
        if row.features_path:
            path = self.resolve(row.features_path)
            try:
                found = path.is_file()
            except OSError as exc:  # a name over 255 bytes, a loop of links
                raise EvidentError(path, f"cannot use this features_path ({exc.strerror or exc}; slide "
                                         f"{row.slide_id!r}, {where}manifest {self.path})") from None
            if not found:
                raise EvidentError(path, f"feature file not found (features_path of slide {row.slide_id!r}, "
                                         f"{where}manifest {self.path})")
            return path
        if features_dir is None:
            raise EvidentError(self.path, f"{where}slide {row.slide_id!r}: no features_path and no features folder given")
        path = find_feature_file(row.slide_id, features_dir)
        if path is None:
            raise EvidentError(features_dir, f"no feature file for slide {row.slide_id!r}")
        return path

    def validate_for_training(self) -> None:
        """Check the cohort can train a model of its task.

        Raises
        ------
        EvidentError
            No labels (task ``"none"``), a single class, survival data without any event, or a
            regression target with a single value.
        """
        if self.task == "none":
            raise EvidentError(self.path, "no 'label' or 'time'/'event' columns: nothing to train on")
        if self.task == "classification" and len(self.classes) < 2:
            only = self.classes[0] if self.classes else "none"
            raise EvidentError(self.path, f"column 'label' has one class only ({only!r}); training needs two or more")
        if self.task == "survival" and not any(r.event == 1 for r in self.rows):
            raise EvidentError(self.path, "column 'event' has no events (all 0); survival training needs at least one")
        if self.task == "regression" and len({self.value(r) for r in self.rows}) < 2:
            raise EvidentError(self.path, "column 'label' holds one value only; regression training needs two or more")

    def value(self, row: ManifestRow) -> float:
        """The regression target of ``row``: its ``label`` as a float (checked finite when the
        manifest was read with ``task="regression"``)."""
        return float(row.label)


def read_manifest(path: str | os.PathLike, task: str | None = None) -> Manifest:
    """Read and validate a cohort manifest CSV.

    Parameters
    ----------
    path
        The CSV file (UTF-8, optionally with a byte-order mark).
    task
        ``"classification"`` (needs ``label``), ``"survival"`` (needs ``time`` and ``event``),
        ``"regression"`` (needs a numeric ``label``: every value a finite number) or ``"none"``;
        ``None`` infers it from the columns (``label`` -> classification, ``time`` +
        ``event`` -> survival, neither -> none; both -> error, name the task).

    Raises
    ------
    EvidentError
        Naming the file and, for a bad value, the line: unreadable file, no rows, missing column,
        empty or duplicate slide id, empty label, unparseable time/event/fold, negative or NaN time,
        event not 0/1, a regression label that is not a finite number (the first such row).
    """
    p = Path(path)
    if task is not None and task not in TASKS:
        raise EvidentError(p, f"unknown task {task!r} (use one of: {', '.join(TASKS)})")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvidentError(p, "manifest not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidentError(p, f"cannot read the manifest ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or []) if h is not None]
    if not header:
        raise EvidentError(p, "empty manifest (no header row)")
    if "slide_id" not in header:
        raise EvidentError(p, f"missing column 'slide_id' (found: {', '.join(header)})")
    has_label, has_surv = "label" in header, "time" in header and "event" in header
    if task is None:
        if has_label and has_surv:
            raise EvidentError(p, "has both 'label' and 'time'/'event' columns; "
                                  "name the task (classification or survival)")
        task = "classification" if has_label else "survival" if has_surv else "none"
    if task in ("classification", "regression") and not has_label:
        raise EvidentError(p, f"missing column 'label' (needed for {task})")
    if task == "survival" and not has_surv:
        missing = [c for c in ("time", "event") if c not in header]
        raise EvidentError(p, f"missing column(s) {', '.join(repr(c) for c in missing)} (needed for survival)")
    rows = tuple(ManifestRow(**values) for values in parse_rows(p, reader, task))
    if not rows:
        raise EvidentError(p, "no rows after the header")
    classes = sort_classes({r.label for r in rows if r.label is not None}) if task == "classification" else ()
    return Manifest(path=p, rows=rows, task=task, classes=classes)


def _match_label(label: str | None, known: tuple[str, ...]) -> int | None:
    """Position of ``label`` in ``known`` by name (or by equal number), ``None`` if absent."""
    if label is None:
        return None
    if label in known:
        return known.index(label)
    try:
        value = float(label)
    except ValueError:
        return None
    for i, name in enumerate(known):
        try:
            if float(name) == value:
                return i
        except ValueError:
            continue
    return None


def write_manifest(path: str | os.PathLike, rows) -> None:
    """Write manifest rows as CSV atomically (columns with no value in any row are left out).

    Parameters
    ----------
    path
        Output CSV.
    rows
        Iterable of :class:`ManifestRow` (or a :class:`Manifest`, whose rows are written).
    """
    rows = list(rows.rows if isinstance(rows, Manifest) else rows)
    order = ["slide_id", "case_id", "label", "time", "event", "split", "fold", "slide_path", "features_path"]
    cols = [c for c in order if c in ("slide_id", "case_id") or any(getattr(r, c) is not None for r in rows)]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if getattr(r, c) is None else _fmt(getattr(r, c)) for c in cols])
    atomic_write_text(path, buf.getvalue())


def _fmt(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)
