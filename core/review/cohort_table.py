"""The cohort browser's table, Qt-free: rows read from an ``evident audit`` folder, sorted and filtered.

An audit folder (``evident audit --out``) holds a per-slide CSV and a cohort JSON. The CSV is
``per_slide.csv`` (else ``slides.csv``, else the first ``*.csv``) with a slide-id column
(``slide_id`` or ``slide``); other columns are recognised by name:

* ``label``, ``prediction`` (or ``predicted`` / ``predicted_class``); class indices are turned into
  class names when a manifest is known;
* ``prob_<class>`` / ``p_<class>``: class probabilities;
* the failure flags of :data:`FLAGS` (the audit's, :data:`core.diagnostics.failures.FLAGS`, and
  ``artifact_evidence_search``), as ``<flag>`` or ``fail_<flag>``
  (``1``/``0``/``true``/``false``);
* ``slide_path``, ``features_path``, ``evidence_path``, ``annotations_path``, ``checkpoint_path``:
  files to open with the slide (relative to the folder); ``checkpoint_path`` is the model that
  audited the slide (``evident demo``: the fold that held it out), for live re-prediction;
* every other column whose values parse as numbers is a number column (``phi``,
  ``keep_only_drop_<rule>``, ``complement_degradation_<rule>``, ``aupc_drop_<method>``...).

Files of a slide the CSV does not name come from the cohort manifest (``slide_path``,
``features_path``), the features folder (:func:`core.data.feature_search.find_feature_file`) and an
evidence folder (``<id>.h5`` / ``<id>_evidence.h5``); the manifest and folders are given by the
caller or recorded in the cohort JSON under ``manifest`` / ``features`` / ``evidence``.

The cohort JSON (``cohort.json``, else the first ``*.json``) may record ``model`` (a dict with
``digest`` and/or ``version``, or a string); :func:`model_mismatch` compares it with the model the
user has open and words the difference. Slides whose files do not exist are listed in
:attr:`CohortTable.missing`; the rest loads.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.data.feature_search import find_feature_file
from core.data.manifest import read_manifest
from core.diagnostics.failures import FLAGS as AUDIT_FLAGS
from core.diagnostics.failures import SEARCH_FLAG
from core.errors import EvidentError
from core.hashing import file_sha256

__all__ = [
    "FLAGS",
    "CohortTable",
    "CohortRow",
    "filter_rows",
    "is_failure",
    "model_mismatch",
    "next_failure",
    "read_audit_folder",
    "sort_rows",
]

#: the flags a cohort row can carry: the audit's (core.diagnostics.failures.FLAGS, ``severe`` last) with
#: the artifact rule on the evidence search's subset before ``severe``
FLAGS = (*[f for f in AUDIT_FLAGS if f != "severe"], SEARCH_FLAG, "severe")
_ID = ("slide_id", "slide")
_PRED = ("prediction", "predicted", "predicted_class")
_PATHS = ("slide_path", "features_path", "evidence_path", "annotations_path", "checkpoint_path")
_TRUE, _FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class CohortRow:
    """One slide of the cohort (paths are absolute or ``None``)."""

    slide_id: str
    label: str = ""
    prediction: str = ""
    probs: dict[str, float] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    slide_path: Path | None = None
    features_path: Path | None = None
    evidence_path: Path | None = None
    annotations_path: Path | None = None
    checkpoint_path: Path | None = None

    @property
    def files(self) -> list[Path]:
        """The slide's files that exist (slide, features, evidence, annotations, checkpoint), to open together."""
        return [p for p in (self.slide_path, self.features_path, self.evidence_path, self.annotations_path,
                            self.checkpoint_path) if p is not None and p.exists()]

    def value(self, column: str):
        """The value shown in ``column`` (a column name of :attr:`Cohort.columns`)."""
        if column == "slide":
            return self.slide_id
        if column in ("label", "prediction"):
            return getattr(self, column)
        if column.startswith("p(") and column.endswith(")"):
            return self.probs.get(column[2:-1], math.nan)
        if column in FLAGS:
            return self.flags.get(column, False)
        return self.numbers.get(column, math.nan)


@dataclass(frozen=True)
class CohortTable:
    """A loaded cohort: rows, their columns, and what could not be found."""

    source: Path
    rows: tuple[CohortRow, ...]
    classes: tuple[str, ...]
    numbers: tuple[str, ...]
    model: dict = field(default_factory=dict)
    missing: tuple[tuple[str, str], ...] = ()  # (slide id, what is missing)

    @property
    def columns(self) -> tuple[str, ...]:
        """Table columns: slide, label, prediction, p(class)..., the flags present, numbers..."""
        flags = tuple(f for f in FLAGS if any(f in r.flags for r in self.rows))
        return ("slide", "label", "prediction", *(f"p({c})" for c in self.classes), *flags, *self.numbers)


def _find(folder: Path, suffix: str, preferred: tuple[str, ...]) -> Path | None:
    for name in preferred:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob(f"*{suffix}"))
    return found[0] if found else None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _flag(path: Path, line: int, column: str, text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise EvidentError(path, f"line {line}: column {column!r} is not a yes/no flag ({text!r})")


def read_audit_folder(folder: str | os.PathLike, *, manifest: str | os.PathLike | None = None,
                      features_dir: str | os.PathLike | None = None,
                      evidence_dir: str | os.PathLike | None = None) -> CohortTable:
    """Read an ``evident audit`` output folder (see the module docstring).

    Raises
    ------
    EvidentError
        No such folder, no per-slide CSV, no slide-id column, a bad flag value, unreadable JSON or
        manifest.
    """
    root = Path(folder)
    if not root.is_dir():
        raise EvidentError(root, "not a folder (choose the output folder of `evident audit`)")
    csv_path = _find(root, ".csv", ("per_slide.csv", "slides.csv"))
    if csv_path is None:
        raise EvidentError(root, "no per-slide CSV in this folder (is it an `evident audit` output folder?)")
    doc = _read_json(_find(root, ".json", ("cohort.json",)))
    model = _model(doc)
    where = {k: (v if v is not None else doc.get(k)) for k, v in
             (("manifest", manifest), ("features", features_dir), ("evidence", evidence_dir))}

    man = read_manifest(where["manifest"]) if where["manifest"] else None
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidentError(csv_path, f"cannot read the file ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    raw = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    classes = doc.get("classes") if isinstance(doc.get("classes"), list) else None
    return cohort_from_records(raw, header, root, csv_path, model=model, manifest=man, where=where, classes=classes)


def cohort_from_records(raw: list[dict[str, str]], header: list[str], root: Path, origin: Path, *, model: dict | None = None,
                        manifest=None, where: dict | None = None, classes=None) -> CohortTable:
    """Rows of text records (CSV rows, or :meth:`SlideAudit.csv_row` values as text) as a :class:`CohortTable`.

    ``classes`` names the class indices of the ``label``/``predicted`` columns (the model's
    classes); without it the manifest's sorted classes are used.

    ``origin`` names the source in error messages; relative paths are taken from ``root``.
    """
    where = where or {"manifest": None, "features": None, "evidence": None}
    id_col = next((h for h in header if h.lower() in _ID), None)
    if id_col is None:
        raise EvidentError(origin, "no slide_id column")
    low = {h: h.lower() for h in header}
    pred_col = next((h for h in header if low[h] in _PRED), None)
    prob_cols = {h: h.split("_", 1)[1] for h in header if low[h].startswith(("prob_", "p_")) and "_" in h}
    flag_cols = [h for h in header if low[h].removeprefix("fail_") in FLAGS]
    skip = {id_col, pred_col, "label", *prob_cols, *flag_cols, *_PATHS}
    num_cols = [h for h in header if h not in skip and low[h] not in skip and raw and
                all(_number(r.get(h, "")) is not None or r.get(h, "") in ("", "nan", "NaN") for r in raw)]
    # indices in the records are the model's classes when known, else the manifest's sorted ones
    names = tuple(classes) if classes else (tuple(manifest.classes) if manifest is not None else ())
    rows, missing = [], []
    for line, r in enumerate(raw, start=2):
        sid = r.get(id_col, "")
        if not sid:
            raise EvidentError(origin, f"line {line}: empty slide id")
        paths = {}
        for col in _PATHS:
            p = r.get(col, "")
            paths[col] = None if not p else (Path(p) if Path(p).is_absolute() else root / p)
        _fill_paths(paths, sid, manifest, where)
        lost = [f"{col.split('_')[0]} file {p}" for col, p in paths.items() if p is not None and not p.exists()]
        if lost:
            missing.append((sid, ", ".join(lost) + " not found"))
        rows.append(CohortRow(
            slide_id=sid, label=_class(r.get("label", ""), names),
            prediction=_class(r.get(pred_col, ""), names) if pred_col else "",
            probs={c: _number(r[h]) if _number(r[h]) is not None else math.nan for h, c in prob_cols.items()},
            numbers={h: _number(r[h]) if _number(r[h]) is not None else math.nan for h in num_cols},
            flags={low[h].removeprefix("fail_"): _flag(origin, line, h, r[h]) for h in flag_cols}, **paths))
    return CohortTable(source=root, rows=tuple(rows), classes=tuple(prob_cols.values()), numbers=tuple(num_cols),
                  model=model or {}, missing=tuple(missing))


def _read_json(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidentError(path, f"cannot read the cohort JSON ({exc})") from None
    return doc if isinstance(doc, dict) else {}


def _class(value: str, names: tuple[str, ...]) -> str:
    """A class index as its class name (other values unchanged)."""
    if value.strip().isdigit() and int(value) < len(names):
        return str(names[int(value)])
    return value


def _fill_paths(paths: dict, sid: str, manifest, where: dict) -> None:
    """Fill the paths the CSV left empty from the manifest / features folder / evidence folder."""
    row = next((x for x in manifest.rows if x.slide_id == sid), None) if manifest is not None else None
    if paths["slide_path"] is None and row is not None and row.slide_path:
        paths["slide_path"] = manifest.resolve(row.slide_path)
    if paths["features_path"] is None:
        if row is not None and row.features_path:
            paths["features_path"] = manifest.resolve(row.features_path)
        elif where["features"]:
            paths["features_path"] = find_feature_file(sid, where["features"])
    if paths["evidence_path"] is None and where["evidence"]:
        for name in (f"{sid}_evidence.h5", f"{sid}.evidence.h5", f"{sid}.h5"):
            if (Path(where["evidence"]) / name).is_file():
                paths["evidence_path"] = Path(where["evidence"]) / name
                break


def _model(doc: dict) -> dict:
    model = doc.get("model")
    if isinstance(model, str):
        return {"name": model}
    return dict(model) if isinstance(model, dict) else {}


def model_mismatch(cohort: CohortTable, *, digest: str | None = None, version: str | None = None) -> str | None:
    """A sentence when the audit was made with another model than the one open, else ``None``."""
    rec = cohort.model
    for key, mine in (("digest", digest), ("version", version)):
        theirs = rec.get(key)
        if mine is not None and theirs is not None and str(theirs) != str(mine):
            return (f"{cohort.source}: this audit was made with a different model ({key} {str(theirs)[:12]}, the "
                    f"open model has {str(mine)[:12]}); its numbers do not describe the open model — re-run "
                    "`evident audit` with it")
    return None


def is_failure(row: CohortRow) -> bool:
    """Whether any failure flag is set."""
    return any(row.flags.values())


def filter_rows(rows: tuple[CohortRow, ...], text: str = "", *, failures_only: bool = False,
                flags: tuple[str, ...] = ()) -> list[int]:
    """Indices of rows whose slide id / label / prediction contain ``text`` (case-insensitive),
    that are failures when ``failures_only``, and that carry every flag in ``flags``."""
    t = text.strip().lower()
    out = []
    for i, r in enumerate(rows):
        if t and not any(t in s.lower() for s in (r.slide_id, r.label, r.prediction)):
            continue
        if failures_only and not is_failure(r):
            continue
        if any(not r.flags.get(f, False) for f in flags):
            continue
        out.append(i)
    return out


def sort_rows(rows: tuple[CohortRow, ...], column: str, descending: bool = False) -> list[int]:
    """Row indices sorted by ``column`` (NaN last either way; ties keep the file order)."""
    vals = [r.value(column) for r in rows]
    nan = [i for i, v in enumerate(vals) if isinstance(v, float) and math.isnan(v)]
    ok = sorted((i for i in range(len(rows)) if i not in set(nan)), key=lambda i: vals[i], reverse=descending)
    return ok + nan


def next_failure(order: list[int], rows: tuple[CohortRow, ...], current: int | None, step: int = 1) -> int | None:
    """The next (``step=1``) or previous (``-1``) failure row after position ``current`` in ``order``
    (positions wrap around); ``None`` when no row is a failure."""
    n = len(order)
    start = (-1 if step > 0 else 0) if current is None else current
    for j in range(1, n + 1):
        pos = (start + step * j) % n
        if is_failure(rows[order[pos]]):
            return pos
    return None


def compute_cohort(manifest: str | os.PathLike, features_dir: str | os.PathLike, checkpoint: str | os.PathLike, *,
                   methods: tuple[str, ...] = ("attention", "random"), cancel=None, progress=None) -> CohortTable:
    """Compute the cohort table from a manifest, a features folder and a checkpoint (no audit folder).

    Runs the audit's per-slide diagnostics (:func:`core.diagnostics.audit.audit_slide`: curves of
    ``methods``, S/N/R, failure flags; minimal subsets skipped) slide by slide. Slides whose feature
    file is missing are listed in :attr:`CohortTable.missing`; the rest loads. ``progress(done, total,
    slide_id)`` is called after each slide; ``cancel`` (a ``threading.Event``) stops between slides
    with :class:`core.review.intervene.Cancelled`. Classification models only (survival needs the
    cohort's risk scale first: use ``evident audit``).
    """
    from core.data.bags import read_bag  # local: pulls in numpy
    from core.diagnostics.audit import AuditConfig, audit_slide, build_explainers  # local: pulls in torch
    from core.models.checkpoint import checkpoint_classes, load_checkpoint  # local: pulls in torch
    from core.review.intervene import Cancelled  # local: pulls in numpy

    man = read_manifest(manifest)
    model, config = load_checkpoint(checkpoint)
    model = model.eval()
    model_classes = checkpoint_classes(config)  # output c is model_classes[c]; labels match by name
    task = str(config.get("task", "classification"))
    if task != "classification":  # survival needs the cohort's risk scale, regression the manifest's values
        raise EvidentError(checkpoint, f"computing a {task} cohort here is not supported (classification models "
                                       "only); run `evident audit`")
    explainers = build_explainers(model, methods)
    cfg = AuditConfig(methods=methods, minimal_k=())
    records, missing = [], []
    for i, row in enumerate(man.rows, 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        try:
            path = man.feature_file(row, features_dir)
        except EvidentError as exc:  # listed as missing with the path that was tried; the rest loads
            path = None
            missing.append((row.slide_id, str(exc)))
        if path is not None:
            bag = read_bag(path)
            label = man.label_index(row, model_classes) if row.label is not None else None
            rec = audit_slide(model, explainers, row.slide_id, bag.features, bag.coords, label, cfg).csv_row()
            rec["features_path"] = str(path)
            records.append({k: "" if v is None else str(v) for k, v in rec.items()})
        if progress is not None:
            progress(i, len(man.rows), row.slide_id)
    header: list[str] = []
    for r in records:
        header += [k for k in r if k not in header]
    cohort = cohort_from_records(records, header, Path(manifest).parent, Path(manifest), manifest=man,
                                 model={"digest": file_sha256(checkpoint)},
                                 where={"manifest": manifest, "features": features_dir, "evidence": None},
                                 classes=model_classes)
    return CohortTable(cohort.source, cohort.rows, cohort.classes, cohort.numbers, cohort.model, (*missing, *cohort.missing))
