"""Find the files that belong together by slide stem (CLAM / TRIDENT folder layouts).

A drop or an ``evident view`` call may name slides, feature files, evidence files, annotations, a
checkpoint, or project folders holding them. :func:`collect` walks folders and classifies files
(I/O); :func:`match_files` (pure) groups the classified files by slide stem:

* a slide ``S.svs`` takes the feature file ``S.h5`` / ``S.pt`` (preferring TRIDENT/CLAM feature
  folders ``features*/``, ``feats*/``, ``h5_files/``, ``pt_files/`` over coords-only ``patches/``),
  the evidence file ``S.h5`` / ``S_evidence.h5`` / ``S.evidence.h5``, and the annotations
  ``S.geojson`` / ``S.json`` / ``S.xml``;
* a checkpoint is not per slide: a single one applies to every group;
* inside folders, ``.png`` / ``.jpg`` images are not taken for slides (project folders hold
  thumbnails and plots); name such a slide directly to open it;
* files whose stem matches no slide (and not ``current_stem``, the slide already open) are
  reported as unmatched with the reason, never silently dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import EvidentError
from core.review.filekinds import FileKind, detect_kind

__all__ = ["SlideFiles", "MatchResult", "collect", "match_files", "slide_stem"]

_SUFFIX_TAGS = ("_evidence", ".evidence", "_features", ".features", "_annotations", ".annotations", "_coords")
_MAX_DEPTH = 3
_PLAIN_IMAGES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class SlideFiles:
    """The files of one slide (any may be ``None`` except ``stem``)."""

    stem: str
    slide: Path | None = None
    features: Path | None = None
    evidence: Path | None = None
    annotations: Path | None = None
    checkpoint: Path | None = None


@dataclass(frozen=True)
class MatchResult:
    """Groups in input order and the files that could not be placed, with why."""

    groups: tuple[SlideFiles, ...]
    unmatched: tuple[tuple[Path, str], ...] = field(default_factory=tuple)


def slide_stem(path: str | os.PathLike) -> str:
    """The slide stem of a file: its name without extension(s) and without tags like ``_evidence``."""
    name = Path(path).name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    stem = Path(name).stem
    for tag in _SUFFIX_TAGS:
        if stem.endswith(tag) and len(stem) > len(tag):
            return stem[: -len(tag)]
    return stem


def collect(paths: list[str | os.PathLike]) -> tuple[list[tuple[Path, FileKind]], list[tuple[Path, str]]]:
    """Classify ``paths``, walking folders (up to 3 levels deep, hidden entries skipped).

    Returns
    -------
    entries, problems
        ``(path, kind)`` for every recognised file; ``(path, reason)`` for paths that do not exist,
        cannot be read, or are of no known kind (only reported for paths named directly).
    """
    entries: list[tuple[Path, FileKind]] = []
    problems: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        try:
            kind = detect_kind(p)
        except EvidentError as exc:
            problems.append((p, exc.message))
            continue
        if kind is FileKind.FOLDER:
            entries.extend(_walk(p, 0))
        elif kind is FileKind.UNKNOWN:
            problems.append((p, "not a slide, feature, evidence, annotation or checkpoint file"))
        else:
            entries.append((p, kind))
    return entries, problems


def _walk(folder: Path, depth: int) -> list[tuple[Path, FileKind]]:
    out: list[tuple[Path, FileKind]] = []
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return out
    for child in children:
        if child.name.startswith("."):
            continue
        if child.is_dir():
            if depth < _MAX_DEPTH:
                out.extend(_walk(child, depth + 1))
            continue
        try:
            kind = detect_kind(child)
        except EvidentError:
            continue
        if kind is FileKind.SLIDE and child.suffix.lower() in _PLAIN_IMAGES:
            continue  # thumbnails and plots, not slides
        if kind not in (FileKind.UNKNOWN, FileKind.FOLDER):
            out.append((child, kind))
    return out


def _feature_rank(p: Path) -> int:
    """Lower is better: real feature folders first, coords-only patch folders last."""
    parent = p.parent.name.lower()
    if parent.startswith(("features", "feats")) or parent in ("h5_files", "pt_files"):
        return 0
    if parent in ("patches", "coords"):
        return 2
    return 1


def match_files(entries: list[tuple[Path, FileKind]], current_stem: str | None = None) -> MatchResult:
    """Group classified files by slide stem (pure: no file is opened).

    Parameters
    ----------
    entries
        ``(path, kind)`` pairs as :func:`collect` returns them.
    current_stem
        Stem of the slide already open, so that dropping only its feature/evidence file attaches it.
    """
    slides = [(p, k) for p, k in entries if k is FileKind.SLIDE]
    stems: list[str] = []
    slide_of: dict[str, Path | None] = {}
    unmatched: list[tuple[Path, str]] = []
    for p, _ in slides:
        s = slide_stem(p)
        if s in slide_of:
            unmatched.append((p, f"another slide with stem {s!r} was already opened"))
            continue
        stems.append(s)
        slide_of[s] = p
    if current_stem is not None and current_stem not in slide_of:
        stems.append(current_stem)
        slide_of[current_stem] = None
    checkpoints = [p for p, k in entries if k is FileKind.CHECKPOINT]
    others = [(p, k) for p, k in entries if k not in (FileKind.SLIDE, FileKind.CHECKPOINT)]
    if not stems:  # no slide at all: group the other files by their own stem
        for p, _ in others:
            s = slide_stem(p)
            if s not in slide_of:
                stems.append(s)
                slide_of[s] = None
    found: dict[str, dict[str, list[Path]]] = {s: {"features": [], "evidence": [], "annotations": []} for s in stems}
    for p, k in others:
        s = slide_stem(p)
        if s not in found:
            unmatched.append((p, f"no slide named {s!r} among the opened files"))
            continue
        found[s][k.value].append(p)
    checkpoint = checkpoints[0] if len(checkpoints) == 1 else None
    if len(checkpoints) > 1:
        unmatched.extend((c, "several checkpoints were given; open one at a time") for c in checkpoints)
    groups = []
    for s in stems:
        f = found[s]
        feats = sorted(f["features"], key=_feature_rank)
        for extra in feats[1:]:
            unmatched.append((extra, f"slide {s!r} already has the feature file {feats[0]}"))
        for key in ("evidence", "annotations"):
            for extra in f[key][1:]:
                unmatched.append((extra, f"slide {s!r} already has the {key} file {f[key][0]}"))
        # the open slide's group only when something is for it (a checkpoint that came with other slides is theirs)
        if current_stem == s and slide_of[s] is None and not (feats or f["evidence"] or f["annotations"]
                                                              or (checkpoint and not slides)):
            continue
        groups.append(SlideFiles(stem=s, slide=slide_of[s], features=feats[0] if feats else None,
                                 evidence=f["evidence"][0] if f["evidence"] else None,
                                 annotations=f["annotations"][0] if f["annotations"] else None,
                                 checkpoint=checkpoint))
    return MatchResult(groups=tuple(groups), unmatched=tuple(unmatched))
