"""Find a slide's feature file in the folder layouts CLAM and TRIDENT produce."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from core.errors import EvidentError

__all__ = ["find_feature_file", "SEARCH_PATTERNS"]

#: Searched in this order; the first pattern with a match wins. ``{id}`` is the slide id and
#: ``{ext}`` runs over ``h5``, ``hdf5`` for the HDF5 patterns and ``pt``, ``pth`` for the tensor ones.
#: CLAM writes ``DIR/h5_files/<id>.h5`` and ``DIR/pt_files/<id>.pt``; TRIDENT writes
#: ``JOB/<mag>x_<size>px_<overlap>px_overlap/features_<encoder>/<id>.h5``.
SEARCH_PATTERNS: tuple[str, ...] = (
    "{id}.{ext}",
    "h5_files/{id}.{ext}",
    "features*/{id}.{ext}",
    "*/h5_files/{id}.{ext}",
    "*/features*/{id}.{ext}",
)
_PT_PATTERNS: tuple[str, ...] = (
    "{id}.{ext}",
    "pt_files/{id}.{ext}",
    "features*/{id}.{ext}",
    "*/pt_files/{id}.{ext}",
    "*/features*/{id}.{ext}",
)


def find_feature_file(slide_id: str, features_dir: str | os.PathLike) -> Path | None:
    """Return the feature file of ``slide_id`` under ``features_dir``, or ``None`` when there is none.

    HDF5 files are preferred over ``.pt`` files (CLAM writes both; only the ``.h5`` one carries
    coordinates). Within one pattern of :data:`SEARCH_PATTERNS` several matches (e.g. the features
    of two encoders, ``features_uni_v1/`` and ``features_conch_v15/``) are ambiguous.

    Raises
    ------
    EvidentError
        ``features_dir`` is not a folder, or one pattern matches several files.
    """
    root = Path(features_dir)
    if not root.is_dir():
        raise EvidentError(root, "feature folder not found")
    sid = glob.escape(str(slide_id))
    for patterns, exts in ((SEARCH_PATTERNS, ("h5", "hdf5")), (_PT_PATTERNS, ("pt", "pth"))):
        for pattern in patterns:
            found = sorted({p for ext in exts for p in root.glob(pattern.format(id=sid, ext=ext)) if p.is_file()})
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                names = ", ".join(str(p.relative_to(root)) for p in found[:4])
                raise EvidentError(root, f"several feature files for slide {slide_id!r} ({names}); "
                                         "point to the folder of one encoder")
    return None
