"""The members of an ensemble: the fold models of one or more ``evident train`` runs (docs/ensemble_maps.md).

A run folder (layout: :mod:`core.train.cv`) holds ``fold_<r>_<k>/model.pt`` and ``fold_<r>_<k>/fold.json``
whose ``predictions`` list the slides of that fold's *test* set. Several runs (other ``--seed``\\ s)
give more members. :func:`select_members` picks, for one slide, the members that never saw it in
training (out-of-fold) when at least ``min_members`` (default 2: one map has no spread) did; otherwise
(a slide outside the training cohort, or one k-fold run without repeats, where exactly one fold held
each slide out) every member, flagged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import EvidentError
from core.jsonfile import read_json

__all__ = ["EnsembleMember", "read_members", "select_members"]


@dataclass(frozen=True)
class EnsembleMember:
    """One fold model: ``name`` (``<run folder name>/fold_<r>_<k>``), its ``checkpoint`` and the
    slide ids of its test set."""

    name: str
    checkpoint: Path
    test_slides: frozenset[str]


def _run_members(run: Path) -> list[EnsembleMember]:
    if not run.is_dir():
        raise EvidentError(run, "training run folder not found")
    if not (run / "config.json").is_file():
        raise EvidentError(run, "not an `evident train` run folder (no config.json)")
    folds = sorted(d for d in run.iterdir() if d.is_dir() and d.name.startswith("fold_"))
    if not folds:
        raise EvidentError(run, "holds no fold_<r>_<k> folders (no trained fold model)")
    members = []
    for d in folds:
        if not (d / "model.pt").is_file() or not (d / "fold.json").is_file():
            raise EvidentError(d, "unfinished fold (model.pt or fold.json missing): finish the run "
                                  "with `evident train ... --resume` first")
        record = read_json(d / "fold.json", "fold record")
        preds = record.get("predictions") if isinstance(record, dict) else None
        if not isinstance(preds, list) or not all(isinstance(p, dict) and "slide_id" in p for p in preds):
            raise EvidentError(d / "fold.json", "no test predictions with slide ids (damaged fold record)")
        members.append(EnsembleMember(f"{run.name}/{d.name}", d / "model.pt",
                                      frozenset(str(p["slide_id"]) for p in preds)))
    return members


def read_members(runs: list[str | os.PathLike]) -> list[EnsembleMember]:
    """Every fold model of the run folders ``runs``, in folder order.

    Raises
    ------
    EvidentError
        A folder that is not a finished training run (names it), or two members with one name.
    """
    members: list[EnsembleMember] = []
    for r in runs:
        members += _run_members(Path(r))
    names = [m.name for m in members]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise EvidentError(None, f"two run folders give members of the same name {dup}: pass each run once "
                                 "(run folders with the same name: rename one)")
    return members


def select_members(members: list[EnsembleMember], slide_id: str,
                   min_members: int = 2) -> tuple[list[EnsembleMember], bool]:
    """The members whose test set holds ``slide_id`` and ``True`` (out-of-fold) when there are at
    least ``min_members`` of them; otherwise every member and ``False``."""
    held_out = [m for m in members if slide_id in m.test_slides]
    return (held_out, True) if len(held_out) >= max(1, min_members) else (list(members), False)
