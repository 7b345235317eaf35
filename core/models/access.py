"""How explainers, interventions and diagnostics reach a model: a bare :class:`MILHost` or a GCE wrapper.

A GCE model (:class:`core.models.gce.GCEModel`) is reduced to its host plus the gates its selector
gives the full bag; every later evaluation is the host with those gates (the host's
``gate_mode`` decides how they enter). **[decision]** A patch's gate is computed once on the whole
slide and stays fixed when other patches are kept or removed (the selector's coordinate
normalisation is per slide), so an intervention changes which patches are pooled, never their gates.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from core.errors import EvidentError
from core.models.base import HostOutput, MILHost
from core.models.gce import GCEModel

#: What explainers, the intervention engine and the diagnostics accept: a bare host or a GCE wrapper.
MILModel = MILHost | GCEModel

__all__ = [
    "MILModel",
    "as_tensor_bag",
    "available_memory_bytes",
    "bag_output",
    "check_bag_fits",
    "full_bag_gates",
    "full_output",
    "host_forward",
    "host_of",
    "is_gce_model",
    "resolve_target",
    "selector_gates",
    "task_of",
]


def host_of(model: MILModel) -> MILHost:
    """The :class:`MILHost` inside ``model`` (``model`` itself for a bare host)."""
    return model.host if isinstance(model, GCEModel) else model


def is_gce_model(model: MILModel) -> bool:
    """True for a GCE wrapper whose selector gates the host (not the "backbone" ablation)."""
    return isinstance(model, GCEModel) and bool(model.config.uses_selector)


def bag_output(model: MILModel, features: Tensor, coords: Tensor | None, *, hard: bool = False,
               gates: Tensor | None = None) -> Tensor:
    """The model's output on a bag: (C,) logits or (1,) risk.

    ``hard=True`` (GCE only): the host on the bag with every gate 1 (discrete evidence inference).
    ``gates`` ((N,) float, GCE only): the host on the bag with these fixed gates instead of the
    selector's, e.g. a sub-bag's gates from the full bag (:func:`full_bag_gates`). How a GCE model
    predicts X_π, X_S and X_¬S: :mod:`core.models.subset_rules`.
    """
    if isinstance(model, GCEModel):
        if hard and is_gce_model(model):
            return model(features, coords, gate=features.new_ones(features.shape[0])).host.output
        if gates is not None and is_gce_model(model):
            return model(features, coords, gate=gates).host.output
        return model(features, coords).host.output
    return model(features, coords).output


def full_output(model: MILModel, features: Tensor, coords: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """One forward on the full bag: its output ((C,) or (1,), on X_π for GCE) and the (N,) gates the
    selector gives every patch (``None`` without a selector)."""
    if not is_gce_model(model):
        return bag_output(model, features, coords), None
    out = model(features, coords)
    return out.host.output, out.gates.detach()


def full_bag_gates(model: MILModel, features: Tensor, coords: Tensor | None) -> Tensor | None:
    """(N,) gates the selector gives every patch of the full bag; ``None`` without a selector."""
    return full_output(model, features, coords)[1]


def task_of(model) -> str:
    """``"classification"``, ``"survival"`` or ``"regression"``."""
    return str(host_of(model).config.task)


def selector_gates(model, features: Tensor, coords: Tensor | None) -> Tensor | None:
    """(N,) gates the GCE selector gives the full bag, detached; ``None`` for a bare host."""
    if not is_gce_model(model):
        return None
    with torch.no_grad():
        return model(features, coords).gates.detach()  # (N,)


def host_forward(host: MILHost, features: Tensor, coords: Tensor | None, gates: Tensor | None) -> HostOutput:
    """The host on a bag (N, D) with optional fixed gates (N,)."""
    return host(features, coords, gate=gates)


def resolve_target(output: Tensor, target: int | None, task: str) -> int:
    """The explained output index: ``target``, or the predicted class (survival/regression: 0).

    Raises
    ------
    EvidentError
        ``target`` outside ``[0, C)``.
    """
    c = int(output.shape[-1])
    if target is None:
        return int(torch.argmax(output).item()) if task == "classification" and c > 1 else 0
    t = int(target)
    if not 0 <= t < c:
        raise EvidentError(None, f"target {t} out of range: the model has {c} output(s) (0..{c - 1})")
    return t


def as_tensor_bag(features, coords, device: str | torch.device = "cpu") -> tuple[Tensor, Tensor | None]:
    """(N, D) float32 features and (N, 2) float32 coords (or ``None``) as tensors on ``device``.

    Raises
    ------
    EvidentError
        Features that are not a non-empty 2-D array, or coords whose row count differs.
    """
    x = torch.as_tensor(np.asarray(features, dtype=np.float32) if not isinstance(features, Tensor) else features)
    x = x.to(device=device, dtype=torch.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise EvidentError(None, f"features must be a non-empty (N, D) array, got shape {tuple(x.shape)}")
    c = None
    if coords is not None:
        c = torch.as_tensor(np.asarray(coords) if not isinstance(coords, Tensor) else coords).to(device=device, dtype=torch.float32)
        if c.ndim != 2 or c.shape != (x.shape[0], 2):
            raise EvidentError(None, f"coords must be ({x.shape[0]}, 2) to match the features, got {tuple(c.shape)}")
    return x, c


def available_memory_bytes() -> int:
    """Memory the process may still use (Linux ``MemAvailable``; 8 GiB where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


def check_bag_fits(path, n: int, d: int, hidden: int, copies: int = 12, limit: int | None = None) -> None:
    """Refuse a bag whose explanation would need more memory than is available.

    The estimate is ``copies`` float32 arrays of ``N × (D + H)`` (features, activations and
    gradients of a few integrated-gradient steps at once).

    Raises
    ------
    EvidentError
        Naming ``path``, the bag size and the memory it would need.
    """
    need = 4 * copies * n * (d + hidden)
    have = available_memory_bytes() if limit is None else int(limit)
    if need > have:
        raise EvidentError(path, f"bag too large for memory: {n} patches × {d} features need about "
                           f"{need / 1024**3:.1f} GiB, {have / 1024**3:.1f} GiB available")
