"""Explanation-aware training losses (docs/explanations.md §4, seed 002): ``L = L_task + λ_e L_expl``.

All explanation losses live here:

* :func:`outside_mass` — ``Σ_{i∉A} ŝ_i / Σ_i ŝ_i`` on non-negative scores (attention or GCE gates);
* :func:`rrr` — right for the right reasons: ``Σ_{i∉A} Σ_d (∂ log p_y / ∂x_{id})²`` (input gradients,
  computed with ``create_graph`` so the penalty is differentiable in the weights);
* :func:`kl` — ``KL(m̂ || a)`` with ``m̂`` the annotation mask normalised to sum 1 and ``a`` the
  normalised attention (or gates).

Each is 0 when all score mass (resp. all gradient) lies inside the annotation.

:func:`explanation_objective` wraps any training objective (core.train.objective) with one of these
losses. The trainer tells it which bag (and which subsample) it is about to see through
``set_bag(slide_id, idx)``; bags without a mask (no annotation file, or no annotated patch) get the
task objective only, and so does evaluation (``torch.inference_mode``: the monitored validation
loss stays the task loss). Scores are the GCE gates when the model's forward output has ``gates``,
else the host's ``HostOutput.attention``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from core.models.gce import GCEOutput
from core.train.objective import Objective, model_output

__all__ = ["LOSSES", "explanation_objective", "kl", "log_prob_target", "outside_mass", "rrr"]

LOSSES = ("outside-mass", "rrr", "kl")
_EPS = 1e-8


def outside_mass(scores: Tensor, mask: Tensor) -> Tensor:
    """Fraction of the score mass outside the annotation.

    Parameters
    ----------
    scores
        (N,) float, non-negative (attention weights or gates).
    mask
        (N,) bool, True inside the annotation.

    Returns
    -------
    Tensor
        () float in [0, 1].
    """
    s = scores.clamp_min(0)
    return (s * (~mask).to(s.dtype)).sum() / (s.sum() + _EPS)


def kl(scores: Tensor, mask: Tensor) -> Tensor:
    """``KL(m̂ || ŝ) = Σ_{i∈A} m̂_i log(m̂_i / ŝ_i)`` with ``m̂ = mask / |A|``, ``ŝ = scores / Σ scores``.

    Parameters
    ----------
    scores
        (N,) float, non-negative. mask: (N,) bool with at least one True.

    Returns
    -------
    Tensor
        () float ≥ 0; 0 exactly when the scores are uniform on A and zero outside.
    """
    s = scores.clamp_min(0)
    p = s / (s.sum() + _EPS)  # (N,)
    m = mask.to(s.dtype)
    q = m / m.sum()  # (N,)
    inside = mask
    return (q[inside] * (torch.log(q[inside]) - torch.log(p[inside] + _EPS))).sum()


def log_prob_target(task: str, output: Tensor, target: Tensor) -> Tensor:
    """``log p_y``: log-softmax of the true class (classification); the risk itself otherwise. Returns ()."""
    if task == "classification":
        return torch.log_softmax(output.reshape(-1), dim=0)[int(target)]
    return output.reshape(-1)[0]


def rrr(log_p: Tensor, features: Tensor, mask: Tensor) -> Tensor:
    """Squared input gradient of ``log_p`` summed over the patches outside the annotation.

    Parameters
    ----------
    log_p
        () float, computed from ``features`` (which must require grad).
    features
        (N, D) float. mask: (N,) bool.

    Returns
    -------
    Tensor
        () float ≥ 0, differentiable in the model weights (``create_graph=True``).
    """
    (grad,) = torch.autograd.grad(log_p, features, create_graph=True)  # (N, D)
    return (grad[~mask] ** 2).sum()


def _scores(out) -> Tensor | None:
    if isinstance(out, GCEOutput):
        return out.gates
    return model_output(out).attention


def explanation_objective(base: Objective, task: str, kind: str, weight: float,
                          masks: Mapping[str, np.ndarray]) -> Objective:
    """``base`` plus ``weight`` × the ``kind`` explanation loss on bags with a mask.

    Parameters
    ----------
    base
        The task objective (host or GCE).
    kind
        One of :data:`LOSSES`.
    weight
        λ_e ≥ 0 (0: ``base`` unchanged, but still routed through here).
    masks
        slide_id -> (N_slide,) bool patch mask in the bag's patch order.

    Returns
    -------
    Objective
        With a ``set_bag(slide_id, idx)`` method: ``idx`` (n,) int the subsample the trainer takes,
        or ``None`` for the whole bag.
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown explanation loss {kind!r} (use one of: {', '.join(LOSSES)})")
    state: dict = {"mask": None}

    def set_bag(slide_id: str, idx: np.ndarray | None) -> None:
        m = masks.get(slide_id)
        if m is not None:
            m = np.asarray(m, dtype=bool)
            m = m if idx is None else m[np.asarray(idx)]
            if not m.any():
                m = None
        state["mask"] = m

    def objective(model: nn.Module, features: Tensor, coords: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        m = state["mask"]
        if m is None or weight == 0 or torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
            return base(model, features, coords, target)
        if m.shape[0] != features.shape[0]:
            raise ValueError(f"annotation mask has {m.shape[0]} patches, the bag {features.shape[0]}")
        mask = torch.from_numpy(m).to(features.device)
        if kind == "rrr":
            features = features.detach().requires_grad_(True)
        captured: list = []
        handle = model.register_forward_hook(lambda _m, _i, o: captured.append(o))
        # rrr differentiates the input gradient again: the fused attention kernels have no double backward
        ctx = sdpa_kernel(SDPBackend.MATH) if kind == "rrr" else contextlib.nullcontext()
        try:
            with ctx:
                loss, output = base(model, features, coords, target)
        finally:
            handle.remove()
        if kind == "rrr":
            extra = rrr(log_prob_target(task, output, target), features, mask)
        else:
            scores = _scores(captured[0]) if captured else None
            if scores is None:
                raise ValueError("the model gives no attention or gates for an explanation loss; use --explanation-loss rrr")
            extra = outside_mass(scores, mask) if kind == "outside-mass" else kl(scores, mask)
        return loss + weight * extra, output

    objective.set_bag = set_bag  # type: ignore[attr-defined]
    return objective
