"""Sort what the user asked to open into files for the review session and audit folders for the
cohort browser (Qt-free, no file is read beyond a folder listing).

* an ``evident demo`` workspace folder becomes its positive slide's files with the out-of-fold
  model, plus its ``audit/`` folder (:func:`core.demo.opening.demo_view_files`);
* an ``evident audit`` output folder (``per_slide.csv`` / ``slides.csv`` inside) goes to the cohort
  browser (:func:`core.review.cohort_table.read_audit_folder` reads it), not to the slide matcher;
* everything else goes to :meth:`core.review.session.ReviewSession.open` unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.demo.opening import demo_view_files, is_demo_workspace

__all__ = ["OpenPlan", "is_audit_folder", "plan_open"]

_AUDIT_CSV = ("per_slide.csv", "slides.csv")


@dataclass(frozen=True)
class OpenPlan:
    """``files`` for the review session, ``audits`` for the cohort browser (both in input order)."""

    files: tuple[Path, ...]
    audits: tuple[Path, ...]


def _is_dir(p: Path) -> bool:
    """``p.is_dir()``, False where the path cannot even be looked at (a name over the file system's
    limit raises ENAMETOOLONG): the session then reports the file as it does any other."""
    try:
        return p.is_dir()
    except OSError:
        return False


def is_audit_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding an audit's per-slide CSV."""
    p = Path(path)
    return _is_dir(p) and any((p / name).is_file() for name in _AUDIT_CSV)


def plan_open(paths: list[str | os.PathLike]) -> OpenPlan:
    """Split ``paths`` (see the module docstring); paths that do not exist pass through as files
    (the session reports them)."""
    files: list[Path] = []
    audits: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if _is_dir(p) and is_demo_workspace(p):
            for f in demo_view_files(p):
                (audits if is_audit_folder(f) else files).append(f)
        elif is_audit_folder(p):
            audits.append(p)
        else:
            files.append(p)
    return OpenPlan(tuple(files), tuple(audits))
