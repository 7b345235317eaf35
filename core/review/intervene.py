"""Live keep-only / remove interventions for the viewer (runs on the viewer's inference thread).

A :class:`Predictor` wraps :class:`core.diagnostics.interventions.InterventionEngine` (built once
around a model and a bag: exact cached re-prediction for attention-pooling hosts, a real forward
otherwise). Removal drops patches from the bag (docs/method.md §2); an empty bag scores as the engine
defines. For the selected subset S it reports ``S = Φ(X) − Φ(X_S)`` (keep-only drop: low means
sufficient) and ``N = Φ(X) − Φ(X_¬S)`` (complement degradation: high means necessary), docs/method.md §5.

Plain data in, plain data out; a ``threading.Event`` cancels between the two re-predictions.
The predictor runs on the local CUDA GPU when there is one (the environment variable
``EVIDENT_DEVICE`` overrides it, e.g. ``cpu`` or ``cuda:1``), on its own copy of the model so that
the loaded checkpoint stays on the CPU for everything else.
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import EvidentError
from core.models.target_scale import TargetScale, target_scale_of

if TYPE_CHECKING:  # the review layer imports without torch; a Predictor is built only with a model
    from core.models.access import MILModel

__all__ = ["InterventionRequest", "InterventionReport", "Predictor", "PredictorCache", "Cancelled", "load_predictor"]


class Cancelled(Exception):
    """The user cancelled the job."""


@dataclass(frozen=True, eq=False)
class InterventionRequest:
    """Keep only (``action="keep"``) or remove (``"remove"``) the patches ``indices`` ((K,) int64)."""

    action: str
    indices: np.ndarray

    def __post_init__(self) -> None:
        if self.action not in ("keep", "remove"):
            raise ValueError(f"unknown intervention {self.action!r}")


@dataclass(frozen=True, eq=False)
class InterventionReport:
    """Before/after numbers of one intervention asked for in the viewer, with its selection.

    Built from :class:`core.diagnostics.interventions.InterventionResult` (the engine's raw before/after)
    with the request (``action``, ``indices``), the sufficiency/necessity drops and class names.

    Attributes
    ----------
    probs_before, probs_after
        (C,) float64 class probabilities (survival/regression: (1,) raw output).
    phi_before, phi_after
        Φ of the full bag's predicted class before and after.
    attention_after, gates_after
        (N,) float64 attention / gates over the remaining patches (NaN for dropped ones), or ``None``.
    sufficiency_drop, necessity_drop
        ``Φ(X) − Φ(X_S)`` and ``Φ(X) − Φ(X_¬S)`` for the selected subset S (regression: absolute
        changes, in target-SD units).
    values
        Regression only: the predicted value ``(before, after)`` in target units.
    recoverability_gap
        GCE models only: ``|Φ(X_π) − Φ(X_S(π))|`` with ``S(π) = {i : π_i ≥ 0.5}`` kept with gates 1
        (a property of the model's gates on this bag, not of the selection); ``None`` otherwise.
    classes
        Class names (``"class i"`` when the model does not name them).
    """

    action: str
    indices: np.ndarray
    probs_before: np.ndarray
    probs_after: np.ndarray
    phi_before: float
    phi_after: float
    attention_after: np.ndarray | None
    gates_after: np.ndarray | None
    sufficiency_drop: float
    necessity_drop: float
    classes: tuple[str, ...] = ()
    recoverability_gap: float | None = None
    device: str = "cpu"
    values: tuple[float, float] | None = None

    @property
    def phi_delta(self) -> float:
        return self.phi_after - self.phi_before


class Predictor:
    """Re-predict one bag under keep/remove (built once; reused for every intervention on that bag).

    Parameters
    ----------
    model
        A host or a GCE model (see the engine).
    features
        (N, D) float32 cached features.
    coords
        (N, 2) int64 level-0 coordinates.
    classes
        Class names, e.g. from the checkpoint config.
    target_scale
        Regression: the checkpoint's :class:`core.models.target_scale.TargetScale` (default (0, 1)),
        which turns outputs into values in target units.
    device
        ``None``: ``$EVIDENT_DEVICE`` if set, else CUDA when present, else the CPU (not MPS: the
        engine accumulates in float64); or a torch device string. Off the CPU the engine works on a
        copy of ``model`` moved there.
    """

    def __init__(self, model: MILModel, features: np.ndarray, coords: np.ndarray, classes: tuple[str, ...] = (),
                 device: str | None = None, target_scale: TargetScale | None = None) -> None:

        from core.device import pick_device  # local: kept out of the viewer's start-up
        from core.diagnostics.interventions import InterventionEngine  # local: pulls in torch

        requested = device if device is not None else os.environ.get("EVIDENT_DEVICE")
        dev = pick_device(requested, float64=True)  # the engine accumulates in float64
        if dev.type == "mps":
            raise EvidentError(None, "interventions need float64, which Apple MPS does not support; "
                                     "use EVIDENT_DEVICE=cpu")
        if dev.type != "cpu":
            model = copy.deepcopy(model).to(dev)
        self.device = str(dev)
        self.engine = InterventionEngine(model, features, coords, device=dev)
        c = self.engine.probs_before.size
        self.recoverability_gap: float | None = None
        if self.engine.gates is not None:
            s_pi = np.flatnonzero(self.engine.gates_np >= 0.5)
            self.recoverability_gap = abs(self.engine.keep_only(s_pi, hard=True).phi_delta)
        self.classes = tuple(classes) if len(classes) == c else tuple(f"class {i}" for i in range(c))
        self.target_scale = (target_scale or TargetScale()) if self.engine.task == "regression" else None
        if self.target_scale is not None:
            self.classes = ("value",)

    def run(self, request: InterventionRequest, cancel: threading.Event | None = None) -> InterventionReport:
        """Apply ``request`` and measure S and N for its subset; raises :class:`Cancelled`."""
        cancel = cancel or threading.Event()
        idx = np.unique(np.asarray(request.indices, dtype=np.int64))
        if cancel.is_set():
            raise Cancelled()
        kept = self.engine.keep_only(idx)
        if cancel.is_set():
            raise Cancelled()
        removed = self.engine.remove(idx)
        if cancel.is_set():
            raise Cancelled()
        r = kept if request.action == "keep" else removed
        s_drop, n_drop = self.engine.drop_of_phi([kept.phi_after, removed.phi_after])  # Φ(X) − Φ (regression: |…|)
        values = None
        if self.target_scale is not None:
            values = tuple(float(v) for v in self.target_scale.to_value([r.probs_before[0], r.probs_after[0]]))
        return InterventionReport(request.action, idx, r.probs_before, r.probs_after, r.phi_before, r.phi_after,
                                  r.attention_after, r.gates_after, float(s_drop), float(n_drop), self.classes,
                                  self.recoverability_gap, self.device, values)


def load_predictor(checkpoint, bag, device: str | None = None) -> Predictor:
    """Load a checkpoint (once per file: :mod:`core.review.model_cache`) and build a :class:`Predictor`."""
    from core.review.model_cache import load_checkpoint_cached  # local: kept out of the viewer's start-up

    model, config = load_checkpoint_cached(checkpoint)
    return Predictor(model, bag.features, bag.coords, tuple(config.get("classes") or ()), device,
                     target_scale_of(config))


class PredictorCache:
    """The one :class:`Predictor` kept between interventions, rebuilt when its key (bag, model,
    checkpoint) changes. Used only on the inference thread, which owns the model it holds."""

    def __init__(self) -> None:
        self.key: object = None
        self.predictor: Predictor | None = None

    def get(self, key: object, build) -> Predictor:
        """The predictor built for ``key`` (``build()`` makes it when the key changed)."""
        if self.predictor is None or self.key != key:
            self.predictor, self.key = build(), key
        return self.predictor
