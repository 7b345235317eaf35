"""The finished folds of a cross-validation output folder, for post-hoc evaluation."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from torch import nn

__all__ = ["finished_folds"]


def finished_folds(out: str | os.PathLike) -> Iterator[tuple[dict, nn.Module]]:
    """Yield ``(fold record, model)`` for every ``OUT/fold_<r>_<k>/`` in order.

    The record is the fold's ``fold.json`` (``repeat``, ``fold``, ``predictions`` with one entry per
    held-out slide); the model is loaded from its ``model.pt`` with ``weights_only=True``.
    """
    from core.models.checkpoint import load_checkpoint

    for d in sorted(Path(out).glob("fold_*_*")):
        rec = json.loads((d / "fold.json").read_text(encoding="utf-8"))
        model, _ = load_checkpoint(d / "model.pt")
        yield rec, model
