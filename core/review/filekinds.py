"""What kind of file the user dropped or opened: slide, features, evidence, annotations, checkpoint.

Detection is by extension first and by content where the extension is shared: an ``.h5`` holding
``/scores`` or ``/gates`` is an evidence file, one holding ``features`` (or ``coords`` only) is a
feature bag; a ``.json`` is an annotation file when it parses as GeoJSON; a ``.pt`` inside a
``pt_files`` folder is a feature tensor, else a checkpoint.
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path

from core.errors import EvidentError

__all__ = ["FileKind", "detect_kind", "SLIDE_SUFFIXES"]

SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif",
                  ".dcm", ".png", ".jpg", ".jpeg")
_H5 = (".h5", ".hdf5")
_CKPT = (".pt", ".pth", ".ckpt")


class FileKind(str, enum.Enum):
    """The kinds of input the viewer opens."""

    SLIDE = "slide"
    FEATURES = "features"
    EVIDENCE = "evidence"
    ANNOTATIONS = "annotations"
    CHECKPOINT = "checkpoint"
    FOLDER = "folder"
    UNKNOWN = "unknown"


def detect_kind(path: str | os.PathLike) -> FileKind:
    """Classify ``path``.

    Returns
    -------
    FileKind
        ``UNKNOWN`` for files none of the readers handle.

    Raises
    ------
    EvidentError
        The path does not exist or cannot be looked at (name too long), or an ``.h5`` that HDF5
        cannot open.
    """
    p = Path(path)
    try:
        exists = p.exists()
    except OSError as exc:  # a name over 255 bytes, a loop of links: reported, not raised as OSError
        raise EvidentError(p, f"cannot open ({exc.strerror or exc})") from None
    if not exists:
        raise EvidentError(p, "no such file or folder")
    if p.is_dir():
        return FileKind.FOLDER
    suffix = p.suffix.lower()
    if suffix in SLIDE_SUFFIXES:
        return FileKind.SLIDE
    if suffix in _H5:
        return _h5_kind(p)
    if suffix in (".geojson", ".xml"):
        return FileKind.ANNOTATIONS
    if suffix == ".json":
        return FileKind.ANNOTATIONS if _is_geojson(p) else FileKind.UNKNOWN
    if suffix in _CKPT:
        return FileKind.FEATURES if p.parent.name == "pt_files" else FileKind.CHECKPOINT
    return FileKind.UNKNOWN


def _h5_kind(p: Path) -> FileKind:
    import h5py  # local: h5py only when used

    try:
        with h5py.File(p, "r") as f:
            keys = set(f.keys())
            fmt = str(f.attrs.get("format", ""))
    except OSError as exc:
        raise EvidentError(p, f"not a readable HDF5 file ({exc})") from None
    if "evidence" in fmt or keys & {"scores", "gates", "subsets"}:
        return FileKind.EVIDENCE
    if keys & {"features", "coords"}:
        return FileKind.FEATURES
    return FileKind.UNKNOWN


def _is_geojson(p: Path) -> bool:
    try:
        with open(p, encoding="utf-8-sig") as fh:
            doc = json.loads(fh.read(50_000_000))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if isinstance(doc, list):
        return bool(doc) and isinstance(doc[0], dict) and doc[0].get("type") == "Feature"
    return isinstance(doc, dict) and doc.get("type") in {"FeatureCollection", "Feature", "Polygon", "MultiPolygon"}
