"""The finished folds of a cross-validation output folder, for post-hoc evaluation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from torch import nn

from core.errors import EvidentError
from core.jsonfile import read_json
from core.models.checkpoint import load_checkpoint

__all__ = ["finished_folds"]


def finished_folds(out: str | os.PathLike) -> Iterator[tuple[dict, nn.Module]]:
    """Yield ``(fold record, model)`` for every ``OUT/fold_<r>_<k>/`` in order.

    The record is the fold's ``fold.json`` (``repeat``, ``fold``, ``predictions`` with one entry per
    held-out slide); the model is loaded from its ``model.pt`` with ``weights_only=True``. A fold
    without ``fold.json`` (written last) was interrupted and is skipped.

    Raises
    ------
    EvidentError
        A ``fold.json`` that cannot be read or is not a fold record; a broken ``model.pt``.
    """
    for d in sorted(Path(out).glob("fold_*_*")):
        record = d / "fold.json"
        if not record.is_file():
            continue
        rec = read_json(record, "fold record")
        if not isinstance(rec, dict) or "predictions" not in rec:
            raise EvidentError(record, "not a fold record (no 'predictions')")
        model, _ = load_checkpoint(d / "model.pt")
        yield rec, model
