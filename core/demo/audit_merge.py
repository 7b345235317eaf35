"""Run ``evident audit`` once per cross-validation fold (each slide audited with the model that held
it out) and merge the fold reports into one folder the cohort browser opens.

``WS/audit/folds/fold_<k>/`` holds each fold's manifest and report; ``WS/audit/per_slide.csv`` is
the union of the folds' ``per_slide.csv`` rows (columns in first-seen order) plus ``fold``,
``slide_path``, ``features_path``, ``evidence_path``, ``annotations_path`` (the truth annotation)
and ``checkpoint_path`` (the out-of-fold model that audited the slide) relative to ``WS/audit``;
``WS/audit/cohort.json`` keeps every fold's cohort summary under ``folds``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from pathlib import Path

from core.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
from core.data.manifest import read_manifest, write_manifest
from core.demo.stages import CommandRunner

__all__ = ["audit_by_fold"]


def audit_by_fold(run_command: CommandRunner, ws: Path, cohort, feat_dir: Path, models: dict[str, Path],
                  methods: list[str], log: Path) -> str:
    """Audit every fold and merge; returns a short note. ``models``: slide id -> checkpoint."""
    out = ensure_writable_dir(ws / "audit")
    man = read_manifest(cohort.manifest)
    by_model: dict[Path, list] = {}
    for row in man.rows:
        if row.slide_id in models:
            by_model.setdefault(models[row.slide_id], []).append(row)
    rows: list[dict] = []
    folds: dict[str, dict] = {}
    for model, group in sorted(by_model.items()):
        name = model.parent.name  # fold_<r>_<k>
        fdir = ensure_writable_dir(out / "folds" / name)
        write_manifest(fdir / "manifest.csv", [_absolute(r, man.path.parent) for r in group])
        run_command(["audit", "--manifest", fdir / "manifest.csv", "--features", feat_dir, "--model", model,
                     "--out", fdir / "report", "--methods", ",".join(methods)], log)
        with open(fdir / "report" / "per_slide.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                sid = r.get("slide_id", "")
                r.update({"fold": name, "slide_path": _rel(cohort.slide_path(sid), out),
                          "features_path": _rel(feat_dir / f"{sid}.h5", out),
                          "evidence_path": _rel(ws / "evidence" / f"{sid}.evidence.h5", out),
                          "annotations_path": _rel(cohort.annotation_path(sid), out),
                          "checkpoint_path": _rel(model, out)})
                rows.append(r)
        try:
            folds[name] = json.loads((fdir / "report" / "cohort.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            folds[name] = {}
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "per_slide.csv", buf.getvalue())
    atomic_write_json(out / "cohort.json", {"source": "evident demo: one audit per fold, out-of-fold models",
                                             "folds": folds})
    return f"{len(rows)} slides audited in {len(folds)} folds"


def _absolute(row, base: Path):
    return replace(row, slide_path=str((base / row.slide_path).resolve())) if row.slide_path else row


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()
