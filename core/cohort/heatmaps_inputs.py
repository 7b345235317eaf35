"""Which files ``evident heatmaps`` draws for each slide, and a digest of them for resuming.

Two ways to name a cohort (docs/heatmaps.md):

* a manifest (:mod:`core.data.manifest`) and an evidence folder: each row's evidence file is
  ``<id>.evidence.h5`` / ``<id>_evidence.h5`` / ``<id>.h5`` in that folder (the names ``evident
  explain`` / ``recover`` and the viewer's demo project write); the slide is the row's
  ``slide_path`` (else found in ``--slides``), the features its ``features_path`` (else found under
  ``--features``; optional: they only give the patch size);
* evidence files (or folders of them): the slide id is the file's stem without ``.evidence`` /
  ``_evidence`` (:func:`core.review.matching.slide_stem`), the slide is found in ``--slides``.

Annotations, optional, are ``<id>.geojson`` / ``<id>.json`` / ``<id>.xml`` in ``--annotations``.
Nothing here opens an evidence file: a damaged one fails when its slide is drawn, so that
``--skip-errors`` can record it and go on.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import EvidentError
from core.hashing import file_sha256

__all__ = ["HeatmapInputs", "inputs_from_evidence_files", "inputs_from_manifest", "inputs_digest"]

_EVIDENCE_NAMES = ("{id}.evidence.h5", "{id}_evidence.h5", "{id}.h5")
_ANNOTATION_NAMES = ("{id}.geojson", "{id}.json", "{id}.xml")


@dataclass(frozen=True)
class HeatmapInputs:
    """The files of one slide (``None`` where there is none); picklable."""

    slide_id: str
    evidence: Path
    slide: Path
    features: Path | None = None
    annotations: Path | None = None


def _find(folder: str | os.PathLike | None, names: tuple[str, ...], sid: str) -> Path | None:
    if folder is None:
        return None
    for name in names:
        p = Path(folder) / name.format(id=sid)
        if p.is_file():
            return p
    return None


def _slide_in(folder: str | os.PathLike | None, sid: str) -> Path | None:
    """The slide file of ``sid`` in ``folder`` (any slide suffix), or ``None``."""
    from core.review.filekinds import SLIDE_SUFFIXES  # local: keeps this module light

    if folder is None:
        return None
    for suffix in SLIDE_SUFFIXES + (".ome.tiff", ".ome.tif"):
        p = Path(folder) / f"{sid}{suffix}"
        if p.is_file():
            return p
    return None


def inputs_from_manifest(manifest_path: str | os.PathLike, evidence_dir: str | os.PathLike, *,
                         slides_dir: str | os.PathLike | None = None,
                         features_dir: str | os.PathLike | None = None,
                         annotations_dir: str | os.PathLike | None = None) -> tuple[HeatmapInputs, ...]:
    """One :class:`HeatmapInputs` per manifest row, in file order.

    Raises
    ------
    EvidentError
        The manifest is unreadable, the evidence folder is missing, or a row's evidence or slide file
        cannot be found (naming the slide and where it was looked for).
    """
    from core.data.manifest import read_manifest  # local: keeps this module light

    man = read_manifest(manifest_path)
    ev_dir = Path(evidence_dir)
    if not ev_dir.is_dir():
        raise EvidentError(ev_dir, "evidence folder not found")
    out = []
    for row in man.rows:
        ev = _find(ev_dir, _EVIDENCE_NAMES, row.slide_id)
        if ev is None:
            raise EvidentError(ev_dir, f"no evidence file for slide {row.slide_id!r} "
                                       f"(looked for {', '.join(n.format(id=row.slide_id) for n in _EVIDENCE_NAMES)})")
        slide = man.resolve(row.slide_path) if row.slide_path else _slide_in(slides_dir, row.slide_id)
        if slide is None:
            raise EvidentError(man.path, f"slide {row.slide_id!r}: no slide_path and no slide file in "
                                         f"{slides_dir or '--slides (not given)'}")
        if not slide.is_file():
            raise EvidentError(slide, f"slide file of {row.slide_id!r} not found (manifest {man.path})")
        features = None
        if row.features_path or features_dir is not None:
            features = man.feature_file(row, features_dir)
        out.append(HeatmapInputs(row.slide_id, ev, slide, features,
                                 _find(annotations_dir, _ANNOTATION_NAMES, row.slide_id)))
    return tuple(out)


def inputs_from_evidence_files(paths: list[str | os.PathLike], *, slides_dir: str | os.PathLike,
                               features_dir: str | os.PathLike | None = None,
                               annotations_dir: str | os.PathLike | None = None) -> tuple[HeatmapInputs, ...]:
    """One :class:`HeatmapInputs` per evidence file (folders are searched for ``*.h5``, sorted).

    Raises
    ------
    EvidentError
        A path that does not exist, two files of one slide, or a slide not found in ``slides_dir``.
    """
    from core.data.feature_search import find_feature_file  # local: keeps this module light
    from core.review.matching import slide_stem  # local: keeps this module light

    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in (".h5", ".hdf5") and q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            raise EvidentError(p, "evidence file not found")
    if not files:
        raise EvidentError(None, "no evidence files given (--evidence)")
    out, seen = [], {}
    for f in files:
        sid = slide_stem(f)
        if sid in seen:
            raise EvidentError(f, f"a second evidence file for slide {sid!r} (also {seen[sid]})")
        seen[sid] = f
        slide = _slide_in(slides_dir, sid)
        if slide is None:
            raise EvidentError(slides_dir, f"no slide file named {sid}.<svs|tiff|ndpi|...> for the evidence file {f}")
        features = find_feature_file(sid, features_dir) if features_dir is not None else None
        out.append(HeatmapInputs(sid, f, slide, features, _find(annotations_dir, _ANNOTATION_NAMES, sid)))
    return tuple(out)


def inputs_digest(inputs: HeatmapInputs, settings: dict) -> str:
    """sha256 (hex) of what a slide's heatmaps depend on.

    The evidence and annotation files by content; the slide and feature files (gigabytes) by path,
    size and modification time; ``settings`` (JSON-able: maps, scale, sizes) as given.
    """
    def stat(p: Path | None) -> list | None:
        if p is None:
            return None
        st = p.stat()
        return [str(p.resolve()), st.st_size, st.st_mtime_ns]

    doc = {"evidence": file_sha256(inputs.evidence), "annotations": None if inputs.annotations is None
           else file_sha256(inputs.annotations), "slide": stat(inputs.slide), "features": stat(inputs.features),
           "settings": settings}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
