"""GCE settings: :class:`GCEConfig` and the ablation switches (method.md §3.11).

Ablations — **[decision]** read cumulatively, annealing last (see :mod:`core.models.gce`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["ABLATIONS", "GCEConfig"]

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
    bridge: str = "constrained"
    ablation: str = "full"
    selector_hidden: int = 128
    threshold: float = 0.5
    coverage_target: float = 0.95

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; choose from {', '.join(ABLATIONS)}")
        if self.bridge not in ("constrained", "unconstrained"):
            raise ValueError(f"bridge must be 'constrained' or 'unconstrained', not {self.bridge!r}")

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
