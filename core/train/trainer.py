"""Training one model on one split: AdamW, cosine schedule, gradient clipping, list-valued batches.

A *batch* is a list of bags (no padding): each bag's objective is computed on its own and the
gradients accumulate (classification/regression: one backward per bag; survival keeps the batch's
graphs and adds :func:`core.models.losses.cox_ph_loss` over the batch's risks, since a single bag
has no Cox likelihood). Training bags larger than ``max_bag`` are subsampled (without replacement,
original order kept) by a generator seeded per fold; evaluation uses whole bags in fixed order under
``torch.inference_mode``. The weights of the best validation epoch are kept (``monitor``), with
optional early stopping.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from core.models.input_norm import InputNorm, fit_all_input_norms
from core.models.losses import cox_ph_loss
from core.train import defaults
from core.train.cohort import TrainBag
from core.train.metrics import METRIC_DIRECTION, task_metrics
from core.train.objective import EpochScheduled, Objective

__all__ = ["TrainConfig", "train_model", "evaluate", "fit_input_norms", "FoldCurves", "lr_scheduler", "epoch_order",
           "average_states"]


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; defaults from :mod:`core.train.defaults` (docs/results_hosts.md, "Default training settings").

    ``batch_size`` bags per optimiser step (``None``: 1, survival 16); ``monitor``: validation
    quantity that picks the best epoch (``"loss"`` or a metric name; ``"auto"``: loss);
    ``patience``: epochs without improvement before stopping (``None``: never);
    ``standardise``: fit the hosts' input standardisation on the training fold's instances;
    ``optimizer``: ``"adamw"`` (decoupled weight decay, docs/method.md §3.10) or ``"adam"`` (L2 penalty,
    as Ilse et al. 2018 used for the MIL benchmarks); ``warmup_epochs``: linear warm-up of the learning
    rate over this many epochs before the cosine decay (:func:`lr_scheduler`); ``average_epochs``: the
    model monitored and kept is the mean of the weights at the end of the last K epochs (K = 1: the
    epoch's own weights; :func:`average_states`); ``balanced_sampling``: classification bags drawn with
    replacement, each class equally likely per step (:func:`epoch_order`); ``min_epochs``: the validation
    split may keep a model, and early stopping may count epochs without improvement, only from the
    ``min_epochs``-th epoch on (clipped to ``epochs``; 1: from the first) — a small validation split can
    otherwise prefer the untrained first epoch (docs/results_hosts.md, "A floor on the kept epoch").
    """

    epochs: int = defaults.EPOCHS
    lr: float = defaults.LR
    weight_decay: float = defaults.WEIGHT_DECAY
    grad_clip: float = defaults.GRAD_CLIP
    max_bag: int = defaults.MAX_BAG
    batch_size: int | None = None
    monitor: str = "auto"
    patience: int | None = defaults.PATIENCE
    standardise: bool = defaults.STANDARDISE
    optimizer: str = defaults.OPTIMIZER
    warmup_epochs: int = defaults.WARMUP_EPOCHS
    average_epochs: int = defaults.AVERAGE_EPOCHS
    balanced_sampling: bool = defaults.BALANCED_SAMPLING
    min_epochs: int = defaults.MIN_EPOCHS

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return asdict(self)


@dataclass
class FoldCurves:
    """Per-epoch ``train_loss``, ``val_loss``, ``val_metric`` (NaN without validation) and ``best_epoch``."""

    train_loss: list
    val_loss: list
    val_metric: list
    best_epoch: int = -1


def fit_input_norms(model: nn.Module, bags: Sequence[TrainBag]) -> None:
    """Fit every :class:`InputNorm` of ``model`` on the stacked instances of ``bags``."""
    if any(isinstance(m, InputNorm) for m in model.modules()):
        fit_all_input_norms(model, torch.cat([b.features for b in bags]))  # (Σ N, D)


def _subsample(n: int, max_bag: int, rng: np.random.Generator) -> np.ndarray | None:
    if n <= max_bag:
        return None
    return np.sort(rng.choice(n, size=max_bag, replace=False))


def lr_scheduler(opt: torch.optim.Optimizer, n_steps: int, warmup_steps: int = 0) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay of the peak rate to 0 over ``n_steps`` optimiser steps, after a linear warm-up.

    Without warm-up it is :class:`torch.optim.lr_scheduler.CosineAnnealingLR` (``T_max = n_steps``), as
    before the warm-up option existed. With ``w = warmup_steps`` (clipped to ``n_steps − 1``) the rate
    of step ``s`` (0-based) is ``peak·(s+1)/w`` for ``s < w``, then ``peak·½(1 + cos(π (s−w)/(n_steps−w)))``.
    """
    w = min(int(warmup_steps), n_steps - 1)
    if w <= 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps)

    def factor(step: int) -> float:
        if step < w:
            return (step + 1) / w
        return 0.5 * (1.0 + math.cos(math.pi * (step - w) / (n_steps - w)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def epoch_order(labels: np.ndarray | None, rng: np.random.Generator, balanced: bool) -> np.ndarray:
    """Indices of the bags of one epoch (length ``len(labels)``).

    ``balanced=False`` (or no labels): a permutation. ``balanced=True``: drawn with replacement with
    probability ``1 / (n_classes · count(class))``, so every class is equally likely at each draw.
    """
    n = len(labels) if labels is not None else 0
    if not balanced or labels is None:
        return rng.permutation(n) if labels is not None else np.arange(0)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    p = 1.0 / (classes.size * counts[inverse])
    return rng.choice(n, size=n, replace=True, p=p / p.sum())


def average_states(states: Sequence[dict]) -> dict:
    """Element-wise mean of state dicts (floating tensors); other entries (counters) from the last one."""
    last = states[-1]
    return {k: (torch.stack([st[k] for st in states]).mean(dim=0) if torch.is_floating_point(v) else v.clone())
            for k, v in last.items()}


def evaluate(model: nn.Module, objective: Objective, bags: Sequence[TrainBag], task: str,
             device: torch.device) -> tuple[np.ndarray, float]:
    """Whole-bag outputs in eval mode: returns (outputs (n, C) float64, mean objective loss)."""
    model.eval()
    outs, losses = [], []
    with torch.inference_mode():
        for b in bags:
            loss, out = objective(model, b.features.to(device), b.coords.to(device), b.target.to(device))
            outs.append(out.detach().cpu().double().reshape(-1).numpy())
            losses.append(float(loss))
        if task == "survival" and len(bags) > 1:
            risk = torch.tensor(np.stack(outs)[:, 0])
            tg = torch.stack([b.target for b in bags]).double()
            losses = [float(cox_ph_loss(risk, tg[:, 0], tg[:, 1]))]
    return np.stack(outs), float(np.mean(losses)) if losses else math.nan


def _monitor(config: TrainConfig) -> str:
    return "loss" if config.monitor == "auto" else config.monitor


def train_model(model: nn.Module, objective: Objective, train: Sequence[TrainBag], val: Sequence[TrainBag],
                task: str, config: TrainConfig, seed: int, device: torch.device,
                on_epoch: Callable[[int], None] | None = None) -> FoldCurves:
    """Train ``model`` in place (ending with the best validation weights) and return its curves.

    Parameters
    ----------
    seed
        Seeds torch (initialisation was done by the caller under the same seed), the shuffling and
        the bag subsampling.
    on_epoch
        Called with the epoch index after each epoch (progress bars).
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    bs = config.batch_size or (16 if task == "survival" else 1)
    n_steps = max(1, config.epochs * math.ceil(len(train) / bs))
    opt_cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[config.optimizer]
    opt = opt_cls([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)
    sched = lr_scheduler(opt, n_steps, config.warmup_epochs * math.ceil(len(train) / bs))
    labels = np.array([int(b.target) for b in train]) if task == "classification" else None
    monitor, curves = _monitor(config), FoldCurves([], [], [])
    best, best_state, stale = math.inf, None, 0
    first_kept = min(max(1, config.min_epochs), config.epochs) - 1  # 0-based: earlier epochs are never kept
    recent: deque = deque(maxlen=max(1, config.average_epochs))  # weights at the end of the last K epochs
    for epoch in range(config.epochs):
        if isinstance(model, EpochScheduled):  # e.g. GCE gate temperature annealing
            model.set_epoch(epoch, config.epochs)
        model.train()
        order = (epoch_order(labels, rng, True) if config.balanced_sampling and labels is not None
                 else rng.permutation(len(train)))
        epoch_loss = 0.0
        for s in range(0, len(order), bs):
            batch = [train[i] for i in order[s:s + bs]]
            opt.zero_grad(set_to_none=True)
            outputs, total = [], 0.0
            for b in batch:
                idx = _subsample(b.features.shape[0], config.max_bag, rng)
                f, c = (b.features, b.coords) if idx is None else (b.features[idx], b.coords[idx])
                if hasattr(objective, "set_bag"):  # EXPLANATION HOOK: per-bag annotation mask (core.train.explanation_loss)
                    objective.set_bag(b.slide_id, idx)
                loss, out = objective(model, f.to(device), c.to(device), b.target.to(device))
                if task == "survival":
                    outputs.append(out.reshape(-1)[:1])
                    total = total + loss / len(batch)
                else:
                    (loss / len(batch)).backward()
                    total += loss.item() / len(batch)
            if task == "survival":
                tg = torch.stack([b.target for b in batch]).to(device)  # (B, 2)
                total = total + cox_ph_loss(torch.cat(outputs), tg[:, 0], tg[:, 1])
                total.backward()
                total = total.item()
            if config.grad_clip and config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            epoch_loss += total * len(batch)
        curves.train_loss.append(epoch_loss / max(1, len(train)))
        raw_state = None
        if config.average_epochs > 1:  # monitor (and keep) the mean of the last K epochs' weights
            recent.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            raw_state = copy.deepcopy(model.state_dict())
            model.load_state_dict(average_states(list(recent)))
        if val:
            outs, vloss = evaluate(model, objective, val, task, device)
            metrics = task_metrics(task, np.stack([b.target.numpy() for b in val]), outs)
            value = vloss if monitor == "loss" else metrics.get(monitor, math.nan)
            curves.val_loss.append(vloss)
            curves.val_metric.append(value)
            score = value * (-METRIC_DIRECTION.get(monitor, -1))  # lower is better
            if epoch < first_kept:
                pass  # before the floor: monitored (curves) but neither kept nor counted towards patience
            elif not math.isnan(score) and score < best:
                best, best_state, stale, curves.best_epoch = score, copy.deepcopy(model.state_dict()), 0, epoch
            else:
                stale += 1
        else:
            curves.val_loss.append(math.nan)
            curves.val_metric.append(math.nan)
            curves.best_epoch = epoch
            if raw_state is not None:
                best_state = copy.deepcopy(model.state_dict())
        if raw_state is not None:
            model.load_state_dict(raw_state)  # training goes on from the epoch's own weights
        if on_epoch is not None:
            on_epoch(epoch)
        if val and config.patience is not None and stale > config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return curves
