"""GCE settings: :class:`GCEConfig` and the ablation switches (docs/method.md §3.11).

Ablations — **[decision]** read cumulatively, annealing last (see :mod:`core.models.gce`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from core.choices import check_choice

__all__ = ["ABLATIONS", "Bridge", "BudgetForm", "CoverageLoss", "GCEConfig", "GroundOn", "NuMode"]

Bridge = Literal["constrained", "unconstrained"]
BudgetForm = Literal["squared", "hinge"]
NuMode = Literal["constant", "quantile"]
GroundOn = Literal["all", "positive"]
CoverageLoss = Literal["label", "contrastive"]

# name -> (selector, budget, recovery, grounding, annealing)
ABLATIONS: dict[str, tuple[bool, bool, bool, bool, bool]] = {
    "backbone": (False, False, False, False, False),
    "naive": (True, False, False, False, False),
    "budget": (True, True, False, False, False),
    "recovery": (True, True, True, False, False),
    "grounding": (True, True, True, True, False),
    "full": (True, True, True, True, True),
}


@dataclass(frozen=True)
class GCEConfig:
    """Values that configure the wrapper (paper defaults).

    Attributes
    ----------
    rank
        Adapter rank r. gamma, delta: response sharpness γ and offset δ.
    t_start, t_end
        Gate temperature at the first and at the last epoch. nu: gate offset ν.
    lambda_budget, lambda_ground
        Loss weights λb, λg. budget: the evidence budget ρ (mean gate).
    bridge
        ``"constrained"`` (spectral norm) or ``"unconstrained"``.
    ablation
        One of :data:`ABLATIONS`.
    selector_hidden
        Selector MLP width.
    threshold, coverage_target
        τ and c of discrete recovery.
    budget_form
        ``"squared"`` (docs/method.md: ``ReLU(mean π − ρ)²``, default) or ``"hinge"`` (``ReLU(mean π − ρ)``,
        **option**: its gradient does not vanish as mean π nears ρ; see docs/results_gce.md, Diagnosis).
    nu_mode
        ``"constant"`` (docs/method.md: ν = ``nu``, default) or ``"quantile"`` (**option**: per bag,
        ν = ``nu`` + the (1 − ρ)-quantile of the selector scores s, held constant in the backward
        pass, so that about a fraction ρ of the gates lies above 0.5 and the threshold set is the
        selector's top-ρ; see docs/results_gce.md, Diagnosis).
    ground_on
        ``"all"`` (docs/method.md: grounding on every bag, default) or ``"positive"`` (**option**,
        classification only: grounding only on bags whose label is not class 0, so that bags without
        evidence are not pulled towards covering their label's anchors; see docs/results_gce.md).
    coverage_loss
        ``"label"`` (docs/method.md: ``L_cov = 1 − Ū_y``, default) or ``"contrastive"`` (**option**,
        classification: ``L_cov = 1 − Ū_y + mean_{c≠y} Ū_c`` with ``Ū_c = U_c / Σ_m α_cm``, so that the
        class weights α are fitted to anchors covered in bags of their class *and not* in bags of the
        other classes; see docs/results_gce.md).
    recovery_weight
        λr ≥ 0 (**option**; docs/method.md has no such term: 0, the default). With λr > 0 the loss gains
        ``λr · L_task(host(X_S), y)``: the host's task loss on the discrete evidence subset S recovered
        from the detached gates of the same step (threshold plus repair, α of the class predicted from
        the soft-gated bag), every gate of S at 1 — the discrete inference of recovery. It trains
        Recoverability directly (the prediction from S is what the soft-gated bag says); see
        docs/results_gce.md.
    """

    rank: int = 32
    gamma: float = 8.0
    delta: float = 0.15
    t_start: float = 1.0
    t_end: float = 0.4
    nu: float = 0.0
    lambda_budget: float = 0.1
    lambda_ground: float = 0.5
    budget: float = 0.05
    bridge: Bridge = "constrained"
    ablation: str = "full"
    selector_hidden: int = 128
    threshold: float = 0.5
    coverage_target: float = 0.95
    budget_form: BudgetForm = "squared"
    ground_on: GroundOn = "all"
    nu_mode: NuMode = "constant"
    coverage_loss: CoverageLoss = "label"
    recovery_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; choose from {', '.join(ABLATIONS)}")
        for name, literal in (("bridge", Bridge), ("budget_form", BudgetForm), ("nu_mode", NuMode),
                              ("coverage_loss", CoverageLoss), ("ground_on", GroundOn)):
            check_choice(getattr(self, name), literal, name)
        if not self.recovery_weight >= 0.0:
            raise ValueError(f"recovery_weight must be ≥ 0, not {self.recovery_weight!r}")

    @classmethod
    def from_dict(cls, d: dict) -> GCEConfig:
        """Build from a dict, ignoring keys that are not fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def uses_selector(self) -> bool:
        return ABLATIONS[self.ablation][0]

    @property
    def uses_budget(self) -> bool:
        return ABLATIONS[self.ablation][1]

    @property
    def uses_recovery(self) -> bool:
        return ABLATIONS[self.ablation][2]

    @property
    def uses_grounding(self) -> bool:
        return ABLATIONS[self.ablation][3]

    @property
    def uses_annealing(self) -> bool:
        return ABLATIONS[self.ablation][4]
