"""Every task loss of the project (architecture rule 6: losses live in one place).

Targets per task (what the trainer passes to an objective, one bag at a time):

* classification: int64 class index, shape () or (1,) — or (B,) for a batch of outputs (B, C);
* survival: float (2,) ``[time, event]`` — or (B, 2) for a batch of risks (B,) / (B, 1);
* regression: float (1,) — or (B,) / (B, 1).

The Cox partial likelihood of a single bag is exactly 0 (its risk set is itself), so a per-bag
objective contributes nothing for survival; the trainer adds :func:`cox_ph_loss` over the whole
batch of risks (see :mod:`core.train.trainer`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from core.choices import choices

__all__ = ["TASKS", "Task", "task_loss", "classification_loss", "cox_ph_loss", "regression_loss"]

#: What a model predicts: class logits, a Cox risk, or a value.
Task = Literal["classification", "survival", "regression"]
TASKS: tuple[Task, ...] = choices(Task)


def classification_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy for C ≥ 2 classes (binary included, as two logits).

    Parameters
    ----------
    logits
        (C,) or (B, C) float.
    target
        () / (1,) or (B,) int64 class indices.

    Returns
    -------
    Tensor
        () mean cross-entropy.
    """
    logits = logits.reshape(-1, logits.shape[-1])  # (B, C)
    target = torch.as_tensor(target, device=logits.device).reshape(-1).long()  # (B,)
    return F.cross_entropy(logits, target)


def cox_ph_loss(risk: Tensor, time: Tensor, event: Tensor) -> Tensor:
    """Negative Cox partial log-likelihood with Breslow's handling of tied times.

    ``L = −(1/n_events) Σ_{i: event_i=1} [ r_i − log Σ_{j: t_j ≥ t_i} exp(r_j) ]``: with ties every
    event at time t shares the same risk set ``{j : t_j ≥ t}`` (Breslow).

    Parameters
    ----------
    risk
        (B,) float predicted log-risks (higher = earlier event).
    time
        (B,) float survival or censoring times.
    event
        (B,) 1 for an observed event, 0 for censored.

    Returns
    -------
    Tensor
        () loss; 0 (with a graph) when the batch has no event.
    """
    risk = risk.reshape(-1)  # (B,)
    time = torch.as_tensor(time, device=risk.device, dtype=risk.dtype).reshape(-1)  # (B,)
    event = torch.as_tensor(event, device=risk.device, dtype=risk.dtype).reshape(-1)  # (B,)
    at_risk = time.unsqueeze(0) >= time.unsqueeze(1)  # (B, B): row i = risk set of subject i
    masked = risk.unsqueeze(0).masked_fill(~at_risk, float("-inf"))  # (B, B)
    log_den = torch.logsumexp(masked, dim=1)  # (B,)
    n_events = event.sum()
    if n_events <= 0:
        return risk.sum() * 0.0
    return -((risk - log_den) * event).sum() / n_events


def regression_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error: output (1,) / (B,) / (B, 1), target of the same number of values -> ()."""
    output = output.reshape(-1)  # (B,)
    target = torch.as_tensor(target, device=output.device, dtype=output.dtype).reshape(-1)  # (B,)
    return F.mse_loss(output, target)


def task_loss(task: str, output: Tensor, target: Tensor) -> Tensor:
    """The task loss of one bag (or a batch) — see the module docstring for the target shapes.

    Raises
    ------
    ValueError
        Unknown task.
    """
    if task == "classification":
        return classification_loss(output, target)
    if task == "survival":
        t = torch.as_tensor(target, device=output.device).reshape(-1, 2)  # (B, 2)
        return cox_ph_loss(output.reshape(-1), t[:, 0], t[:, 1])
    if task == "regression":
        return regression_loss(output, target)
    raise ValueError(f"unknown task {task!r} (use one of: {', '.join(TASKS)})")
