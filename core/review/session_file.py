"""Save and restore a review session as JSON (written atomically).

A session file records the files open (slide, features, evidence, annotations, checkpoint), every
layer's display settings and order, the data of layers that no file recreates (intervention maps,
difference maps, thresholded subsets...), the selection, the intervention history and the view
rectangle. ``extras`` holds what the GUI wants back (compare panes, gallery choices).

Restoring when files moved: :func:`missing_files` lists the recorded paths that no longer exist;
the GUI asks the user to locate them and :func:`remap` rewrites the paths (a file found in a new
folder also relocates the other missing files that sit in that folder under the same name).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_write_json
from core.errors import EvidentError
from core.jsonfile import read_json
from core.review.layers import LAYER_TYPES, LayerSettings, RegionLayer, ScalarLayer, SubsetLayer
from core.review.matching import collect, match_files
from core.review.session import InterventionRecord
from core.review.session_checks import check_session_doc

__all__ = [
    "FILE_KEYS",
    "FORMAT",
    "capture",
    "missing_files",
    "read_session",
    "remap",
    "restore_session",
    "save_session",
]

FORMAT = "evident-review-session"
VERSION = 1
FILE_KEYS = ("slide", "features", "evidence", "annotations", "checkpoint")


def _layer_doc(layer, file_sources: dict[str, str]) -> dict:
    settings = dataclasses.asdict(layer.settings)
    settings["color"] = list(settings["color"])
    doc: dict[str, Any] = {"name": layer.name, "kind": layer.kind, "units": layer.units, "source": layer.source,
                           "settings": settings, "file": file_sources.get(layer.source)}
    if layer.source not in file_sources:  # no file recreates it: keep its data

        match layer:
            case ScalarLayer():
                doc["values"] = [None if not np.isfinite(v) else float(v) for v in layer.values]
            case SubsetLayer():
                doc["indices"] = [int(i) for i in layer.indices]
            case RegionLayer():
                from shapely.geometry import mapping  # local: shapely only when used

                doc["geometry"] = mapping(layer.geometry)
    return doc


def capture(session, view: tuple[float, float, float, float] | None = None, extras: dict | None = None) -> dict:
    """The JSON-ready document of a :class:`core.review.session.ReviewSession`."""
    files = {k: None for k in FILE_KEYS}
    if session.files is not None:
        files.update({k: None if getattr(session.files, k) is None else str(Path(getattr(session.files, k)).resolve())
                      for k in FILE_KEYS})
    sources = {str(getattr(session.files, k)): k for k in FILE_KEYS if session.files is not None and getattr(session.files, k)}
    history = [{"action": r.action, "indices": [int(i) for i in r.indices],
                "probs_before": [float(x) for x in r.probs_before], "probs_after": [float(x) for x in r.probs_after],
                "classes": list(r.classes), "phi_delta": float(r.phi_delta), "layers": list(r.layers),
                "snr": r.snr, "phi_before": r.phi_before, "device": r.device,
                **({} if r.values is None else {"values": [float(v) for v in r.values]})} for r in session.history]
    return {"format": FORMAT, "version": VERSION, "files": files,
            "layers": [_layer_doc(x, sources) for x in session.layers],
            "selection": [int(i) for i in session.selection], "history": history,
            "view": None if view is None else [float(v) for v in view], "extras": extras or {}}


def save_session(path: str | os.PathLike, session, view=None, extras: dict | None = None) -> Path:
    """Write the session to ``path`` atomically; EvidentError when the folder cannot be written."""
    p = Path(path)
    doc = capture(session, view, extras)
    try:
        atomic_write_json(p, doc)
    except OSError as exc:
        raise EvidentError(p, f"cannot write the session file ({exc.strerror or exc})") from None
    return p


def read_session(path: str | os.PathLike) -> dict:
    """Read and check a session file.

    Raises
    ------
    EvidentError
        Unreadable, not JSON, not a session file, or a newer format version.
    """
    p = Path(path)
    doc = read_json(p, "session file")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise EvidentError(p, "not an Evident review session file")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise EvidentError(p, f"session format version {doc.get('version')!r} is newer than this Evident reads ({VERSION})")
    if not isinstance(doc.get("files"), dict) or not isinstance(doc.get("layers", []), list):
        raise EvidentError(p, "malformed session file ('files' or 'layers')")

    check_session_doc(doc, p)  # every entry restore_session reads has the type it needs
    return doc


def missing_files(doc: dict) -> list[tuple[str, str]]:
    """``(key, path)`` of every recorded file that does not exist now."""
    return [(k, v) for k, v in doc["files"].items() if v and not Path(v).exists()]


def remap(doc: dict, located: dict[str, str]) -> dict:
    """A copy of ``doc`` with files moved: ``located`` maps old paths to where the user found them.

    Other missing files are looked for under their own name in the folders the located ones moved
    to, so locating one file of a moved project relocates its siblings.
    """
    files = dict(doc["files"])
    new_dirs = [Path(new).parent for new in located.values()]
    for key, old in files.items():
        if not old:
            continue
        if old in located:
            files[key] = str(located[old])
        elif not Path(old).exists():
            for d in new_dirs:
                for cand in (d / Path(old).name, d.parent / Path(old).parent.name / Path(old).name):
                    if cand.exists():
                        files[key] = str(cand)
                        break
                if files[key] != old:
                    break
    return {**doc, "files": files}


def restore_session(session, doc: dict) -> tuple[tuple[float, float, float, float] | None, list[str]]:
    """Open the recorded files into ``session`` and re-apply layers, selection and history.

    Returns
    -------
    view, problems
        The recorded view rectangle (or ``None``) and sentences for what could not be restored
        (missing files are reported, the rest is restored). When none of the recorded files opens,
        the session is left as it was and ``view`` is ``None``.
    """

    lost = missing_files(doc)
    problems = [f"{path}: file not found ({key})" for key, path in lost]
    lost_keys = {key for key, _ in lost}
    paths = [v for v in doc["files"].values() if v and Path(v).exists()]
    entries, issues = collect(paths)
    problems += [f"{path}: {why}" for path, why in issues]
    groups = match_files(entries).groups
    if not groups or not session.load(groups[0]):  # load() keeps the review when nothing opens
        kept = "; the review on screen is kept" if session.files is not None else ""
        return None, problems + ["none of the session's files could be opened" + kept]
    if doc["files"].get("checkpoint") and session.files is not None and session.files.checkpoint is None \
            and Path(doc["files"]["checkpoint"]).exists():
        session.open([doc["files"]["checkpoint"]])
    names = [x.name for x in session.layers]
    for i, ld in enumerate(doc.get("layers", [])):
        s = dict(ld.get("settings", {}))
        s["color"] = tuple(s.get("color", (255, 220, 0)))
        try:
            settings = LayerSettings(**s)
        except (TypeError, ValueError) as exc:
            problems.append(f"layer {ld.get('name')!r}: settings not restored ({exc})")
            settings = LayerSettings()
        name = ld["name"]
        if name not in names:
            layer = _rebuild(ld, settings)
            if layer is None:
                if ld.get("file") in lost_keys:  # its file is missing (reported above)
                    continue
                problems.append(f"layer {name!r}: its file is not open, so it was not restored")
                continue
            try:
                session.add_layer(layer, emit=False)
            except EvidentError as exc:
                problems.append(f"layer {name!r}: {exc.message}")
                continue
        else:
            session.update_layer(name, **dataclasses.asdict(settings))
        session.move_layer(name, i)
    try:
        session.set_selection(np.asarray(doc.get("selection", []), dtype=np.int64))
    except ValueError as exc:
        problems.append(f"selection not restored ({exc})")
    for h in doc.get("history", []):
        session.history.append(InterventionRecord(
            h["action"], np.asarray(h["indices"], np.int64), np.asarray(h["probs_before"], float),
            np.asarray(h["probs_after"], float), tuple(h["classes"]), float(h["phi_delta"]), tuple(h["layers"]), h.get("snr"),
            None if h.get("phi_before") is None else float(h["phi_before"]), str(h.get("device") or ""),
            None if h.get("values") is None else (float(h["values"][0]), float(h["values"][1]))))
    session.layers_changed.emit()
    session.history_changed.emit()
    view = doc.get("view")
    return (tuple(view) if view else None), problems


def _rebuild(ld: dict, settings):
    """The layer a session file's entry stores with its data (its ``kind`` word names the type), or
    ``None`` when the entry has no data of its own (a file recreates it) or an unknown kind."""
    cls = LAYER_TYPES.get(ld.get("kind"))
    common = {"name": ld["name"], "units": ld.get("units", "score"), "source": ld.get("source", ""),
              "settings": settings}
    if cls is ScalarLayer and "values" in ld:
        v = np.array([np.nan if x is None else x for x in ld["values"]], dtype=np.float64)
        v.setflags(write=False)
        return ScalarLayer(values=v, **common)
    if cls is SubsetLayer and "indices" in ld:
        idx = np.asarray(ld["indices"], dtype=np.int64)
        idx.setflags(write=False)
        return SubsetLayer(indices=idx, **common)
    if cls is RegionLayer and "geometry" in ld:
        from shapely.geometry import shape  # local: shapely only when used

        return RegionLayer(geometry=shape(ld["geometry"]), **common)
    return None
