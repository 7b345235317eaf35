"""A training cohort in memory: the manifest's slides with their feature bags and targets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from core.choices import check_choice
from core.data.bags import find_feature_file, read_bag
from core.data.manifest import read_manifest
from core.errors import EvidentError
from core.models.losses import Task

__all__ = ["TrainBag", "TrainCohort", "load_cohort", "cohort_from_arrays"]


@dataclass(frozen=True, eq=False)
class TrainBag:
    """One slide ready for training.

    Attributes
    ----------
    features
        (N, D) float32 tensor (CPU). coords: (N, 2) int64 tensor.
    target
        classification: () int64 class index; survival: (2,) float32 ``[time, event]``;
        regression: (1,) float32 in target units (:mod:`core.train.cv` trains on it standardised
        with the training fold's mean and SD, :mod:`core.models.target_scale`).
    label
        The manifest label (classification) or ``""``.
    """

    slide_id: str
    case_id: str
    features: Tensor
    coords: Tensor
    target: Tensor
    label: str = ""


@dataclass(frozen=True, eq=False)
class TrainCohort:
    """Bags, task, classes (classification) and the feature width D."""

    bags: tuple[TrainBag, ...]
    task: Task
    classes: tuple[str, ...]
    feature_dim: int
    source: str = ""

    def strata(self) -> list[object] | None:
        """Per-slide stratification labels for the splits (class / event / none)."""
        if self.task == "classification":
            return [int(b.target) for b in self.bags]
        if self.task == "survival":
            return [int(b.target[1]) for b in self.bags]
        return None


def load_cohort(manifest_path: str | os.PathLike, features_dir: str | os.PathLike | None,
                task: str | None = None) -> TrainCohort:
    """Read a manifest and every slide's feature bag.

    Feature files come from the manifest's ``features_path`` column or are searched under
    ``features_dir`` (:func:`core.data.bags.find_feature_file`).

    Raises
    ------
    EvidentError
        Bad manifest, one class only, survival without events, a regression label column with
        a non-numeric value or a single value, slides without a feature file
        (all listed), unreadable/invalid bag (NaN, shapes), feature widths that differ.
    """
    m = read_manifest(manifest_path, task)
    m.validate_for_training()
    paths, missing = [], []
    for row in m.rows:
        if row.features_path:  # a path the manifest names is reported as that path
            p = m.feature_file(row, features_dir)
        else:
            p = find_feature_file(row.slide_id, features_dir) if features_dir is not None else None
            if p is None or not Path(p).is_file():
                missing.append(row.slide_id)
        paths.append(p)
    if missing:
        where = f"under {features_dir}" if features_dir is not None else "(no --features folder given)"
        shown = ", ".join(missing[:10]) + (f", … ({len(missing)} in all)" if len(missing) > 10 else "")
        raise EvidentError(m.path, f"{len(missing)} slide(s) have no feature file {where}: {shown}")
    bags, dim = [], None
    for row, p in zip(m.rows, paths, strict=True):
        bag = read_bag(p, feature_dim=dim)
        dim = bag.feature_dim if dim is None else dim
        if m.task == "classification":
            target = torch.tensor(m.label_index(row), dtype=torch.long)
        elif m.task == "regression":  # in target units; core.train.cv standardises it per training fold
            target = torch.tensor([m.value(row)], dtype=torch.float32)
        else:
            target = torch.tensor([float(row.time), float(row.event)], dtype=torch.float32)
        bags.append(TrainBag(row.slide_id, row.case_id, torch.from_numpy(np.ascontiguousarray(bag.features)),
                             torch.from_numpy(np.ascontiguousarray(bag.coords)), target, row.label or ""))
    return TrainCohort(tuple(bags), m.task, m.classes, int(dim), str(m.path))


def cohort_from_arrays(features: list[np.ndarray], targets: list, task: Task, classes: tuple[str, ...] = (),
                       case_ids: list[str] | None = None, slide_ids: list[str] | None = None) -> TrainCohort:
    """A cohort from in-memory bags (tests, benchmarks): features[i] (N_i, D) float; targets per task."""
    check_choice(task, Task, "task")
    bags = []
    for i, (f, t) in enumerate(zip(features, targets, strict=True)):
        sid = slide_ids[i] if slide_ids else f"bag{i:04d}"
        x = torch.as_tensor(np.asarray(f, np.float32))
        coords = torch.zeros(x.shape[0], 2, dtype=torch.long)
        if task == "classification":
            target, label = torch.tensor(int(t), dtype=torch.long), classes[int(t)] if classes else str(int(t))
        else:
            target, label = torch.as_tensor(np.asarray(t, np.float32).reshape(-1)), ""
        bags.append(TrainBag(sid, case_ids[i] if case_ids else sid, x, coords, target, label))
    if task == "classification" and not classes:
        classes = tuple(str(c) for c in range(int(max(int(b.target) for b in bags)) + 1))
    return TrainCohort(tuple(bags), task, tuple(classes), int(bags[0].features.shape[1]))
