"""The GCE training objective (docs/method.md §3.9): ``L = L_task + λb L_budget + λg (L_cov + L_align)``.

* ``L_budget = ReLU(mean_i π_i − ρ)²``
* ``L_cov = 1 − U_y(π) / Σ_m α_ym`` with ``U_y = Σ_m α_ym v_m(π)`` (survival: the one risk row)
* ``L_align = BCE(π_i, stopgrad(t_i))``, ``t_i = Σ_m α_ym r_im / Σ_m α_ym``

Options (defaults = docs/method.md): ``GCEConfig.budget_form="hinge"`` uses ``ReLU(mean π − ρ)``;
``GCEConfig.ground_on="positive"`` skips the grounding term on class-0 (evidence-free) bags;
``GCEConfig.recovery_weight`` = λr > 0 adds ``λr · L_task(host(X_S), y)`` on the recovered subset S
(:func:`recovery_task_loss`); ``GCEConfig.coverage_loss="contrastive"`` adds ``mean_{c≠y} Ū_c`` (``Ū_c = U_c / Σ_m α_cm``) to ``L_cov``.

``L_task`` is :func:`core.models.losses.task_loss` on the gated host output, plus the host's
:meth:`auxiliary_loss` where it has one. Which terms are on follows the model's ablation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from core.evidence.recovery import recover

__all__ = ["budget_loss", "gce_objective", "grounding_loss", "recovery_task_loss"]


def budget_loss(gates: Tensor, budget: float, form: str = "squared") -> Tensor:
    """``ReLU(mean π − ρ)²`` (``form="squared"``, docs/method.md) or ``ReLU(mean π − ρ)`` (``"hinge"``)
    for (N,) gates; returns ()."""
    excess = F.relu(gates.mean() - budget)
    return excess if form == "hinge" else excess**2


def grounding_loss(gates: Tensor, responses: Tensor, coverage: Tensor, alpha_y: Tensor,
                   alpha_other: Tensor | None = None) -> Tensor:
    """``L_cov + L_align``.

    Parameters
    ----------
    gates
        (N,) π. responses: (N, M) r. coverage: (M,) v(π). alpha_y: (M,) α of the label's class.
    alpha_other
        (C − 1, M) α of the other classes (option ``coverage_loss="contrastive"``): their mean
        normalised utility ``Ū_c`` is added to ``L_cov``; ``None`` (default): ``L_cov = 1 − Ū_y``.

    Returns
    -------
    Tensor
        () the grounding loss; gradients reach π (both terms) and α (``L_cov`` only).
    """
    total = alpha_y.sum().clamp_min(1e-12)  # ()
    l_cov = 1.0 - (alpha_y * coverage).sum() / total
    if alpha_other is not None and alpha_other.shape[0] > 0:
        other = (alpha_other @ coverage) / alpha_other.sum(dim=1).clamp_min(1e-12)  # (C − 1,)
        l_cov = l_cov + other.mean()
    target = (responses @ alpha_y / total).detach().clamp(0.0, 1.0)  # (N,)
    l_align = F.binary_cross_entropy(gates.clamp(1e-6, 1 - 1e-6), target)
    return l_cov + l_align


def recovery_task_loss(model, out, features: Tensor, coords: Tensor | None, target, task: str,
                       task_loss: Callable) -> Tensor:
    """The task loss of the host on the evidence subset recovered from this step's gates: ().

    S comes from :func:`core.evidence.recovery.recover` on the detached (N,) gates, (N, M) responses
    and the α row of the class predicted from the soft-gated output (as at inference); the host then
    sees only ``features[S]`` (|S|, d) with every gate 1. No gradient reaches the gates through S (a
    discrete choice); it reaches the host, and through the shared host the soft-gated path.
    """
    cfg = model.config
    alpha = model.class_weights().detach()  # (C, M)
    k = int(out.host.output.detach().argmax()) if alpha.shape[0] > 1 else 0
    rec = recover(out.gates.detach().cpu().double().numpy(), out.responses.detach().cpu().double().numpy(),
                  alpha[k].cpu().double().numpy(), cfg.threshold, cfg.coverage_target)
    idx = torch.as_tensor(rec.indices, dtype=torch.long, device=features.device)  # (|S|,)
    sub_coords = coords[idx] if coords is not None else None
    hard = model.host(features[idx], sub_coords, gate=features.new_ones(idx.numel()))
    return task_loss(task, hard.output, target)


def _label_row(task: str, target, n_rows: int) -> int:
    if task != "classification" or n_rows == 1:
        return 0
    return int(torch.as_tensor(target).reshape(-1)[0])


def gce_objective(task: str, task_loss: Callable | None = None) -> Callable:
    """Objective ``(model, features (N, d), coords (N, 2), target) -> (loss (), output (C,) or (1,))``.

    Parameters
    ----------
    task
        ``"classification"``, ``"survival"`` or ``"regression"``.
    task_loss
        ``(task, output, target) -> loss``; default :func:`core.models.losses.task_loss`.
        ``model`` is a :class:`core.models.gce.GCEModel`; ``target`` is what ``task_loss`` takes.
    """
    if task_loss is None:
        from core.models.losses import task_loss  # local: the default when the caller passes none

    def objective(model, features: Tensor, coords: Tensor | None, target) -> tuple[Tensor, Tensor]:
        out = model(features, coords)
        loss = task_loss(task, out.host.output, target)
        aux = model.host.auxiliary_loss(out.host, target if torch.is_tensor(target) else None)
        if aux is not None:
            loss = loss + aux
        cfg = model.config
        if getattr(cfg, "recovery_weight", 0.0) > 0 and cfg.uses_selector:
            loss = loss + cfg.recovery_weight * recovery_task_loss(model, out, features, coords, target, task, task_loss)
        if cfg.uses_budget:
            loss = loss + cfg.lambda_budget * budget_loss(out.gates, cfg.budget, cfg.budget_form)
        if cfg.uses_grounding:
            alpha = model.class_weights()  # (C, M)
            row = _label_row(task, target, alpha.shape[0])
            if getattr(cfg, "ground_on", "all") == "positive" and task == "classification" and row == 0:
                return loss, out.host.output  # option: no grounding on bags of class 0 (no evidence)
            alpha_y = alpha[row]  # (M,)
            other = None
            if getattr(cfg, "coverage_loss", "label") == "contrastive" and alpha.shape[0] > 1:
                other = torch.cat([alpha[:row], alpha[row + 1:]])  # (C − 1, M)
            loss = loss + cfg.lambda_ground * grounding_loss(out.gates, out.responses, out.coverage, alpha_y, other)
        return loss, out.host.output

    return objective
