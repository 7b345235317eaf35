"""Exemplar anchors from the viewer: name a concept from picked patches, see each patch's anchor
responses, and re-run discrete recovery with the edited bank.

Anchors and patches are compared in the anchor space of the model: for a GCE model the bridged
features ``B(h)`` (so an exemplar lives where the model's own anchors live, whatever d_a is),
otherwise the raw features. An exemplar's embedding is the mean of its patches in that space
(:func:`core.anchors.build.exemplar_anchor`); responses follow docs/method.md eq. 2,
``r = σ(γ (cos(x, a) − δ))``, with the model's γ, δ (defaults 8 and 0.15 without a model).

Recovery with the edited bank (:func:`core.evidence.recovery.recover`) keeps the model's gates and
its class weights α for the anchors it was trained with; **[decision]** an anchor added in the
viewer has no trained weight, so it gets the mean α of the predicted class's trained anchors (1
when there are none) — "as relevant as an average concept of that class".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from core.anchors.build import exemplar_anchor
from core.data.anchors import AnchorBank, write_anchor_bank
from core.errors import EvidentError
from core.evidence.recovery import recover

__all__ = ["AnchorSpace", "add_exemplar", "anchor_space", "recover_with_bank", "responses", "save_bank"]


@dataclass(frozen=True, eq=False)
class AnchorSpace:
    """What the exemplar tools need from a model and a bag (plain data, built on the inference thread).

    Attributes
    ----------
    points
        (N, d_a) float32 patches in anchor space.
    bank
        The model's own anchors (prompts, (M, d_a) embeddings), or ``None`` without a GCE model.
    gates
        (N,) float64 the model's gates, or ``None``.
    class_weights
        (M,) float64 α of the predicted class, or ``None``.
    gamma, delta, threshold, coverage_target
        Response and recovery settings.
    """

    points: np.ndarray
    bank: AnchorBank | None = None
    gates: np.ndarray | None = None
    class_weights: np.ndarray | None = None
    gamma: float = 8.0
    delta: float = 0.15
    threshold: float = 0.5
    coverage_target: float = 0.95


def anchor_space(model, features: np.ndarray, coords: np.ndarray | None = None,
                 prompts: tuple[str, ...] = ()) -> AnchorSpace:
    """Build the :class:`AnchorSpace` of a bag ((N, D) features) under ``model`` (or ``None``)."""
    x = np.asarray(features, dtype=np.float32)
    if model is None:
        return AnchorSpace(points=x)
    import torch  # local: a model is loaded, so torch is; the review layer imports without it

    from core.models.gce import GCEModel  # local: torch

    if not isinstance(model, GCEModel):
        return AnchorSpace(points=x)

    with torch.inference_mode():
        t = torch.from_numpy(x)
        c = None if coords is None else torch.as_tensor(np.asarray(coords), dtype=torch.float32)
        out = model(t, c)
        pts = model.bridge(t).float().numpy()  # (N, d_a)
        gates = out.gates.double().numpy()  # (N,)
        predicted = int(out.host.output.reshape(-1).argmax()) if out.host.output.numel() > 1 else 0
        alpha = model.class_weights()[predicted].double().numpy()  # (M,)
        emb = model.anchors.float().numpy()  # (M, d_a)
    m = emb.shape[0]
    names = tuple(model.prompts)  # the model's own names first, then the evidence file's
    if len(names) != m:
        names = tuple(prompts)
    if len(names) != m:
        names = tuple(f"anchor {i + 1}" for i in range(m))
    cfg = model.config
    return AnchorSpace(points=pts, bank=AnchorBank(names, emb, "model"), gates=gates, class_weights=alpha, gamma=float(cfg.gamma), delta=float(cfg.delta))


def add_exemplar(space: AnchorSpace, bank: AnchorBank | None, indices: np.ndarray, name: str) -> AnchorBank:
    """``bank`` (or the model's bank when ``None``) plus the concept ``name`` = mean of ``indices``."""
    name = name.strip()
    if not name:
        raise EvidentError(None, "name the concept first")
    return exemplar_anchor(bank if bank is not None else space.bank, space.points, np.asarray(indices), name)


def responses(space: AnchorSpace, bank: AnchorBank) -> np.ndarray:
    """(N, M) float64 responses ``σ(γ (cos(x_i, a_m) − δ))`` of every patch to every anchor."""
    p = space.points.astype(np.float64)
    a = np.asarray(bank.embeddings, dtype=np.float64)
    if a.shape[1] != p.shape[1]:
        raise EvidentError(None, f"the anchor bank has width {a.shape[1]}, the patches {p.shape[1]}")
    pn = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    return 1.0 / (1.0 + np.exp(-space.gamma * (pn @ an.T - space.delta)))


def recover_with_bank(space: AnchorSpace, bank: AnchorBank, gates: np.ndarray | None = None):
    """Recovery (:func:`core.evidence.recovery.recover`) with ``bank``'s responses; see the module
    docstring for the weights of new anchors. Returns ``(Recovery, class_weights (M,))``."""
    g = space.gates if gates is None else np.asarray(gates, dtype=np.float64)
    if g is None:
        raise EvidentError(None, "recovery needs the gates of a GCE model (open a GCE checkpoint)")
    known = dict(zip(space.bank.prompts, space.class_weights)) if space.bank is not None and space.class_weights is not None else {}
    fill = float(np.mean(list(known.values()))) if known else 1.0
    w = np.array([known.get(p, fill) for p in bank.prompts], dtype=np.float64)
    return recover(g, responses(space, bank), w, threshold=space.threshold, coverage_target=space.coverage_target), w


def save_bank(path: str | os.PathLike, bank: AnchorBank) -> None:
    """Write the bank (:func:`core.data.anchors.write_anchor_bank`, atomic); one EvidentError on failure."""
    try:
        write_anchor_bank(path, bank)
    except OSError as exc:
        raise EvidentError(path, f"cannot write the anchor bank ({exc.strerror or exc})") from None
