"""Training objectives and model factories (the seam the GCE wrapper plugs into).

An *objective* is ``(model, features (N, D), coords (N, 2), target) -> (loss (), output (C,) or (1,))``
(docs/contracts.md). A *model factory* is ``(host_name, host_config, train_bags) -> (model,
objective)``; :func:`core.train.cv.run_cv` takes one, so ``evident train --gce`` swaps in a factory
that wraps the host with :func:`core.models.gce.build_gce` and returns the GCE model's objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from core.models.base import HostConfig, HostOutput, MILHost
from core.models.gce import GCEOutput
from core.models.losses import task_loss
from core.models.registry import build_host

__all__ = ["EpochScheduled", "Objective", "ModelFactory", "host_objective", "default_factory", "model_output"]

Objective = Callable[[nn.Module, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
ModelFactory = Callable[[str, HostConfig, Sequence[Any]], tuple[nn.Module, Objective]]


@runtime_checkable
class EpochScheduled(Protocol):
    """A model whose training depends on the epoch (GCE's gate temperature; a factory's own model):
    the trainer calls ``set_epoch(epoch, n_epochs)`` (0-based) before each epoch."""

    def set_epoch(self, epoch: int, n_epochs: int) -> None: ...


def model_output(out: HostOutput | GCEOutput) -> HostOutput:
    """The :class:`HostOutput` of a forward result (a host's own, or a GCE wrapper's ``.host``)."""
    return out.host if isinstance(out, GCEOutput) else out


def host_objective(task: str) -> Objective:
    """Task loss of the host's output plus the host's auxiliary loss (CLAM, DSMIL, DTFD)."""

    def objective(model: nn.Module, features: Tensor, coords: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        out = model_output(model(features, coords))
        loss = task_loss(task, out.output, target)  # ()
        aux = model.auxiliary_loss(out, target) if isinstance(model, MILHost) else None
        return (loss if aux is None else loss + aux), out.output

    return objective


def default_factory(host_name: str, host_config: HostConfig, train_bags: Sequence[Any]) -> tuple[nn.Module, Objective]:
    """The bare host from the registry and :func:`host_objective`."""
    return build_host(host_name, host_config), host_objective(host_config.task)
