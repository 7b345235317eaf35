"""What the viewer opens from an ``evident demo`` workspace, without re-running any stage.

:func:`demo_view_files` picks a **positive** slide (the first in manifest order unless one is
named) with its feature bag, evidence file, truth annotation and the checkpoint of the fold that
held it out (``models/<gce|abmil>/predictions.csv``), plus the merged audit folder for the cohort
browser. ``evident demo`` and opening the workspace folder in the viewer use the same choice.
Workspace layout: :mod:`core.demo.pipeline`; the cohort files: :mod:`core.demo.cohort`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path

__all__ = ["demo_view_files", "is_demo_workspace", "oof_models"]


def is_demo_workspace(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ``evident demo`` workspace (``cohort/cohort.json`` and ``models/``)."""
    p = Path(path)
    return (p / "cohort" / "cohort.json").is_file() and (p / "models").is_dir()


def oof_models(model_dir: Path) -> dict[str, Path]:
    """slide id -> the checkpoint of the (repeat-0) fold that held the slide out, from predictions.csv.

    Raises ``OSError`` when ``model_dir/predictions.csv`` cannot be read.
    """
    out = {}
    with open(model_dir / "predictions.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if str(row.get("repeat", "0")) == "0":
                out[row["slide_id"]] = model_dir / f"fold_0_{row['fold']}" / "model.pt"
    return out


def _labels(ws: Path) -> dict[str, str]:
    try:
        doc = json.loads((ws / "cohort" / "cohort.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    labels = doc.get("labels", {}) if isinstance(doc, dict) else {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def demo_view_files(workspace: str | os.PathLike, slide_id: str | None = None,
                    model_name: str | None = None) -> list[Path]:
    """The files the viewer opens for a demo workspace (those that exist, in this order): slide,
    features, evidence, truth annotation, out-of-fold checkpoint, audit folder.

    ``slide_id``: that slide (default: the first positive one); ``model_name``: ``"gce"`` or
    ``"abmil"`` (default: ``gce`` when its predictions exist).
    """
    ws = Path(workspace)
    labels = _labels(ws)
    ids = list(labels)
    if not ids:
        return []
    sid = slide_id or next((i for i in ids if labels[i] == "positive"), ids[0])
    if model_name is None:
        model_name = "gce" if (ws / "models" / "gce" / "predictions.csv").is_file() else "abmil"
    feats = sorted((ws / "features").rglob(f"{sid}.h5"))
    files: list[Path | None] = [ws / "cohort" / "slides" / f"{sid}.tiff", feats[0] if feats else None,
                                ws / "evidence" / f"{sid}.evidence.h5", ws / "cohort" / "annotations" / f"{sid}.geojson"]
    with contextlib.suppress(OSError):
        files.append(oof_models(ws / "models" / model_name).get(sid))
    files.append(ws / "audit")
    return [Path(f) for f in files if f is not None and Path(f).exists()]
