"""The one explainer interface (Captum-like): built once around a model, applied to a bag.

``Explainer(model).attribute(features (N, D), coords (N, 2) or None, target=None) -> (N,) float32``.
The explained output ``f_c`` is the logit of class ``c`` (default: the predicted class), or the risk
/ value for survival / regression (docs/explanations.md §1). With a GCE model the host is explained under
the gates its selector gives the full bag, held fixed (see :mod:`core.models.access`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from core.models.access import (
    MILModel,
    as_tensor_bag,
    host_of,
    resolve_target,
    selector_gates,
    task_of,
)

__all__ = ["BagContext", "Explainer"]


class BagContext:
    """One bag prepared for an explainer.

    Attributes
    ----------
    x
        (N, D) float32 features. coords: (N, 2) float32 or ``None``. gates: (N,) fixed GCE gates or
        ``None``. target: the explained output index. output: (C,) the model's output, detached.
    """

    def __init__(self, x: Tensor, coords: Tensor | None, gates: Tensor | None, target: int, output: Tensor) -> None:
        self.x, self.coords, self.gates, self.target, self.output = x, coords, gates, target, output


class Explainer:
    """Base class: subclasses set :attr:`name` and implement :meth:`_scores`."""

    name: ClassVar[str] = ""

    def __init__(self, model: MILModel, device: str | torch.device = "cpu") -> None:
        self.model = model.eval()
        self.host = host_of(model).eval()
        self.task = task_of(model)
        self.device = device

    def f(self, x: Tensor, coords: Tensor | None, gates: Tensor | None, target: int) -> Tensor:
        """The explained scalar ``f_c`` of the host on bag ``x`` (N, D) with fixed ``gates``: ()."""
        return self.host(x, coords, gate=gates).output[target]

    def prepare(self, features, coords=None, target: int | None = None) -> BagContext:
        """Tensors, fixed gates and the resolved target of one bag."""
        x, c = as_tensor_bag(features, coords, self.device)
        gates = selector_gates(self.model, x, c)
        with torch.no_grad():
            out = self.host(x, c, gate=gates).output.detach()  # (C,)
        return BagContext(x, c, gates, resolve_target(out, target, self.task), out)

    def attribute(self, features, coords=None, target: int | None = None) -> np.ndarray:
        """Per-patch scores (N,) float32 for ``features`` (N, D), ``coords`` (N, 2) or ``None``.

        Raises
        ------
        EvidentError
            ``target`` outside the model's outputs, a bad bag, or a method the model cannot support.
        """
        ctx = self.prepare(features, coords, target)
        s = self._scores(ctx)
        if isinstance(s, Tensor):
            s = s.detach().cpu().numpy()
        return np.asarray(s, dtype=np.float32).reshape(-1)

    def _scores(self, ctx: BagContext) -> Tensor | np.ndarray:
        raise NotImplementedError
