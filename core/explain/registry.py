"""All explanation methods by name: :func:`build_explainer`."""

from __future__ import annotations

from core.errors import EvidentError
from core.explain.attention import AttentionExplainer
from core.explain.base import Explainer
from core.explain.gce_scores import GCEGateExplainer, GCESubsetExplainer
from core.explain.grad_input import GradInputExplainer
from core.explain.gradient import GradientExplainer
from core.explain.integrated_gradients import IntegratedGradientsExplainer
from core.explain.leave_one_out import LeaveOneOutExplainer
from core.explain.lrp import LRPExplainer
from core.explain.random_scores import RandomExplainer
from core.explain.single import SingleExplainer

__all__ = ["ALIASES", "EXPLAINERS", "build_explainer", "canonical_method"]

EXPLAINERS: dict[str, type[Explainer]] = {
    c.name: c
    for c in (AttentionExplainer, GradientExplainer, GradInputExplainer, IntegratedGradientsExplainer,
              SingleExplainer, LeaveOneOutExplainer, LRPExplainer, GCEGateExplainer, GCESubsetExplainer,
              RandomExplainer)
}
ALIASES = {"gxi": "grad_input", "integrated_gradients": "ig", "loo": "leave_one_out", "gate": "gce_gate",
           "subset": "gce_subset", "occlusion": "single"}


def canonical_method(name: str) -> str:
    """The registered name for ``name`` or an alias. Raises :class:`EvidentError` if unknown."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in EXPLAINERS:
        raise EvidentError(None, f"unknown explanation method {name!r} (use one of: {', '.join(EXPLAINERS)})")
    return key


def build_explainer(name: str, model, **kwargs) -> Explainer:
    """Build explainer ``name`` around ``model`` (kwargs go to the explainer, e.g. ``n_steps``)."""
    return EXPLAINERS[canonical_method(name)](model, **kwargs)
