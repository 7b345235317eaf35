"""Repeated k-fold cross-validation of one host on one cohort, resumable fold by fold.

Output folder::

    config.json                  the run's settings (a resumed run must match it)
    fold_<r>_<k>/model.pt        best checkpoint of repeat r, fold k (core.models.checkpoint)
    fold_<r>_<k>/fold.json       its metrics, test predictions, curves (written last: marks the fold done)
    predictions.csv              per test slide and repeat (core.train.report.write_predictions)
    results.json                 {"folds": [...], "mean": {...}, "std": {...}, "pooled": {...}}
    training_curves.png

Every fold is seeded from (seed, repeat, fold) alone (:func:`core.train.splits.fold_seed`) and the
splits from (seed, repeat), so ``resume=True`` skips finished folds and gives the same results as an
uninterrupted run. The summary files are written atomically after the last fold: an interrupted
run leaves no results.json.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.atomic import atomic_write_json, ensure_writable_dir
from core.errors import EvidentError
from core.jsonfile import read_json
from core.models.base import HostConfig
from core.models.checkpoint import save_checkpoint
from core.models.gce import GCEModel
from core.models.target_scale import TargetScale, fit_target_scale
from core.train import defaults
from core.train.cohort import TrainBag, TrainCohort
from core.train.metrics import task_metrics
from core.train.objective import ModelFactory, default_factory
from core.train.report import summarise, write_curves_png, write_predictions, write_results
from core.train.splits import Split, cv_splits, fold_seed
from core.train.trainer import TrainConfig, evaluate, fit_input_norms, train_model

__all__ = ["CVConfig", "run_cv", "fold_dir", "with_task"]


@dataclass(frozen=True)
class CVConfig:
    """``folds`` k, ``repeats`` R, ``seed``, ``val_fraction`` of training cases held out."""

    folds: int = 5
    repeats: int = 1
    seed: int = 0
    val_fraction: float = defaults.VAL_FRACTION


def fold_dir(out: Path, split: Split) -> Path:
    """``out/fold_<r>_<k>``."""
    return out / f"fold_{split.repeat}_{split.fold}"


def _predictions(cohort: TrainCohort, idx: np.ndarray, outputs: np.ndarray) -> list[dict]:
    rows = []
    for i, out in zip(idx, outputs, strict=True):
        b = cohort.bags[int(i)]
        if cohort.task == "classification":
            z = np.exp(out - out.max())
            p = z / z.sum()
            pred, values, target = cohort.classes[int(p.argmax())], p.tolist(), int(b.target)
        elif cohort.task == "survival":
            pred, target = float(out[0]), b.target.tolist()
            values = [float(out[0]), *target]
        else:
            pred, values, target = float(out[0]), [float(out[0])], float(b.target.reshape(-1)[0])
        rows.append({"slide_id": b.slide_id, "case_id": b.case_id, "label": b.label, "prediction": pred,
                     "values": values, "target": target, "output": out.tolist()})
    return rows


def _standardised(bags: list[TrainBag], scale: TargetScale) -> list[TrainBag]:
    """Regression bags with their (1,) target in training-fold SD units (core.models.target_scale)."""
    return [replace(b, target=torch.tensor(scale.to_z(b.target.numpy()), dtype=torch.float32)) for b in bags]


def _run_fold(cohort: TrainCohort, split: Split, host_name: str, host_config: HostConfig, train_cfg: TrainConfig,
              cv: CVConfig, factory: ModelFactory, device: torch.device, run_config: dict, out: Path,
              progress) -> dict:
    seed = fold_seed(cv.seed, split.repeat, split.fold)
    train = [cohort.bags[i] for i in split.train]
    val = [cohort.bags[i] for i in split.val]
    test = [cohort.bags[i] for i in split.test]
    scale = None
    if cohort.task == "regression":  # MSE on the target standardised with the training part's mean/SD
        scale = fit_target_scale([float(b.target.reshape(-1)[0]) for b in train])
        train, val = _standardised(train, scale), _standardised(val, scale)
    torch.manual_seed(seed)
    model, objective = factory(host_name, host_config, train)
    if train_cfg.standardise:
        fit_input_norms(model, train)
    model = model.to(device)
    curves = train_model(model, objective, train, val, cohort.task, train_cfg, seed, device,
                         on_epoch=lambda e: progress.set_postfix(fold=f"{split.repeat}/{split.fold}", epoch=e + 1))
    outputs, test_loss = evaluate(model, objective, test if scale is None else _standardised(test, scale),
                                  cohort.task, device)
    if scale is not None:  # back to target units: predictions and metrics are in the label's units
        outputs = scale.to_value(outputs)
    metrics = task_metrics(cohort.task, np.stack([b.target.numpy() for b in test]), outputs)
    d = ensure_writable_dir(fold_dir(out, split))
    ckpt_config = {k: run_config[k] for k in ("host", "host_config", "task", "classes")}
    if isinstance(model, GCEModel):  # its GCE settings, read back by load_checkpoint
        ckpt_config.update(model.to_config())
    ckpt_config.update(repeat=split.repeat, fold=split.fold)
    if scale is not None:
        ckpt_config["target_scale"] = scale.to_config()
    save_checkpoint(d / "model.pt", model.cpu(), ckpt_config)
    record = {
        "repeat": split.repeat, "fold": split.fold, "seed": seed,
        "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "best_epoch": curves.best_epoch, "test_loss": test_loss,
        **({} if scale is None else {"target_scale": scale.to_config()}),
        "metrics": {k: (None if math.isnan(v) else v) for k, v in metrics.items()},
        "curves": {"train_loss": curves.train_loss,
                   "val_loss": [None if math.isnan(v) else v for v in curves.val_loss],
                   "val_metric": [None if math.isnan(v) else v for v in curves.val_metric]},
        "predictions": _predictions(cohort, split.test, outputs),
    }
    atomic_write_json(d / "fold.json", record)
    return record


def run_cv(cohort: TrainCohort, host_name: str, host_config: HostConfig, out: str | os.PathLike,
           train_cfg: TrainConfig | None = None, cv: CVConfig | None = None, *,
           factory: ModelFactory = default_factory, device: torch.device | str = "cpu", resume: bool = False,
           extra_config: dict | None = None, on_fold_done: Callable[[Split], None] | None = None) -> dict:
    """Cross-validate ``host_name`` on ``cohort`` and write the output folder.

    Parameters
    ----------
    host_config
        ``in_dim``/``n_outputs``/``task`` must match the cohort (set by the caller).
    factory
        Builds (model, objective) per fold; see :mod:`core.train.objective`.
    extra_config
        Extra JSON entries stored in ``config.json`` (e.g. the GCE settings): part of what a resumed
        run must match.
    on_fold_done
        Called after each fold is written (tests interrupt here).

    Returns
    -------
    dict
        The results.json content.

    Raises
    ------
    EvidentError
        ``out`` holds another run (without ``resume``, or with other settings); bad split settings.
    """
    train_cfg = train_cfg or TrainConfig()
    cv = cv or CVConfig()
    out = Path(out)
    device = torch.device(device)
    run_config = {
        "host": host_name, "host_config": host_config.to_dict(), "task": cohort.task,
        "classes": list(cohort.classes), "feature_dim": cohort.feature_dim, "source": cohort.source,
        "n_slides": len(cohort.bags), "train": train_cfg.to_dict(), "cv": {
            "folds": cv.folds, "repeats": cv.repeats, "seed": cv.seed, "val_fraction": cv.val_fraction},
        **(extra_config or {}),
    }
    run_config = json.loads(json.dumps(run_config))
    cfg_path = out / "config.json"
    if cfg_path.exists():
        if not resume:
            raise EvidentError(out, "already holds a training run; pass --resume to continue it or pick another --out")
        try:
            old = read_json(cfg_path, "the earlier run's settings")
        except EvidentError:
            old = None
        if not isinstance(old, dict):
            raise EvidentError(cfg_path, "cannot read the earlier run's settings")
        diff = sorted(k for k in set(old) | set(run_config) if old.get(k) != run_config.get(k))
        if diff:
            raise EvidentError(cfg_path, f"the earlier run used other settings ({', '.join(diff)}); "
                                         "resume with the same ones or pick another --out")
    splits = cv_splits([b.case_id for b in cohort.bags], cohort.strata(), cv.folds, cv.repeats, cv.seed,
                       cv.val_fraction, source=cohort.source or None)
    ensure_writable_dir(out)
    if not cfg_path.exists():
        atomic_write_json(cfg_path, run_config)
    records = []
    with tqdm(total=len(splits), desc=f"{host_name} cv", unit="fold", file=sys.stderr, disable=None) as progress:
        for split in splits:
            done = fold_dir(out, split) / "fold.json"
            if resume and done.is_file():
                records.append(read_json(done, "fold record"))
            else:
                records.append(_run_fold(cohort, split, host_name, host_config, train_cfg, cv, factory, device,
                                         run_config, out, progress))
                if on_fold_done is not None:
                    on_fold_done(split)
            progress.update(1)
    summary = {"host": host_name, **summarise(records, cohort.task)}
    write_predictions(out / "predictions.csv", records, cohort.task, cohort.classes)
    write_curves_png(out / "training_curves.png", records)
    write_results(out / "results.json", summary)
    return summary


def with_task(config: HostConfig, cohort: TrainCohort) -> HostConfig:
    """``config`` with ``in_dim``, ``n_outputs`` and ``task`` set from the cohort."""
    n = len(cohort.classes) if cohort.task == "classification" else 1
    return replace(config, in_dim=cohort.feature_dim, n_outputs=n, task=cohort.task)
