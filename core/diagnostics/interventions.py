"""The intervention engine: keep-only, remove and soft-gate one bag, exactly and fast (docs/method.md §2, §5).

Built once around a model and a bag; every intervention then re-predicts the bag. Removal drops
patches from the bag (never zero-filling). Φ is the probability of the full bag's predicted class
(survival: ``sigmoid((risk − μ) / σ)`` with the cohort's ``risk_scale = (μ, σ)``; regression: the
output itself, in the target's training-fold SD units, :mod:`core.models.target_scale`).

How far an intervention moves the prediction is :meth:`InterventionEngine.phi_drop`: ``Φ(X) − Φ(X')``
(classification, survival: a fall of Φ), and for regression ``|Φ(X) − Φ(X')|`` -- a change of
the predicted value either way, in target-SD units. "The prediction is preserved"
(:meth:`InterventionEngine.preserves_prediction`) is "the same class" for classification and always
true for survival/regression, whose preservation is only the tolerance on ``phi_drop``
(docs/regression.md, docs/explanations.md).

Attention-pooling hosts (``pools_by_attention``) are evaluated from a cache: per-patch embeddings
``e`` (N, H) and attention logits ``z`` (N,) (plus the GCE gates' log-bias) are computed once; an
intervention is a masked softmax, a weighted sum and the host's ``head`` -- exact, not approximate.
Removing a few patches is cheaper still: the float64 softmax sums of the full bag minus the removed
terms, O(removed · H). Other hosts (cross-patch interaction) get a real forward per intervention. An empty bag scores as
the model on one all-zero patch (docs/explanations.md §2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from core.errors import EvidentError
from core.models.access import MILModel, as_tensor_bag, host_of, selector_gates, task_of
from core.models.base import gate_log_bias

__all__ = ["DEFAULT_MAX_BYTES", "BatchResult", "InterventionEngine", "InterventionResult"]

#: Refuse bags whose cache would need more than this many bytes (overridable per engine).
DEFAULT_MAX_BYTES = 8 * 1024**3


@dataclass(frozen=True, eq=False)
class InterventionResult:
    """Before/after numbers of one intervention.

    Attributes
    ----------
    probs_before, probs_after
        (C,) float64 class probabilities (survival: (1,) raw risk; regression: (1,) raw output in
        target-SD units).
    phi_before, phi_after, phi_delta
        Φ before, after, and ``phi_after − phi_before``.
    attention_after
        (N,) float64 attention over the patches left (NaN for removed ones), or ``None``.
    gates_after
        (N,) float64 gates in force after the intervention (NaN for removed ones), or ``None``.
    """

    probs_before: np.ndarray
    probs_after: np.ndarray
    phi_before: float
    phi_after: float
    phi_delta: float
    attention_after: np.ndarray | None
    gates_after: np.ndarray | None


class BatchResult(NamedTuple):
    """Many interventions at once: ``outputs`` (B, C) raw, ``probs`` (B, C), ``phi`` (B,), all float64."""

    outputs: np.ndarray
    probs: np.ndarray
    phi: np.ndarray


class InterventionEngine:
    """Keep-only / remove / soft-gate interventions on one bag.

    Parameters
    ----------
    model
        A :class:`MILHost` or a GCE model (its selector's gates are computed once and kept).
    features
        (N, D) float patch features (numpy or tensor).
    coords
        (N, 2) level-0 coordinates, or ``None``.
    device
        Torch device for the cache and the forwards.
    risk_scale
        ``(μ, σ)`` that standardise a survival risk before the sigmoid (cohort statistics).
    max_bytes
        Refuse bags whose cache needs more memory than this (:class:`EvidentError` naming the size).
    """

    def __init__(self, model: MILModel, features, coords=None, device: str | torch.device = "cpu", *,
                 risk_scale: tuple[float, float] = (0.0, 1.0), max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        shape = tuple(np.shape(features))
        if len(shape) == 2:
            hidden = int(host_of(model).config.hidden)
            need = 4 * shape[0] * (shape[1] + hidden + 8)
            if need > max_bytes:
                raise EvidentError(None, f"bag too large for memory: {shape[0]} patches × {shape[1]} features "
                                   f"need about {need / 1024**3:.2f} GiB, the limit is {max_bytes / 1024**3:.2f} GiB")
        self.model = model.eval()
        self.host = host_of(model).eval()
        self.task = task_of(model)
        self.x, self.coords = as_tensor_bag(features, coords, device)
        self.n = int(self.x.shape[0])
        self.risk_scale = (float(risk_scale[0]), float(risk_scale[1]) or 1.0)
        self.gates = selector_gates(model, self.x, self.coords)  # (N,) or None
        self.gates_np = None if self.gates is None else self.gates.cpu().double().numpy()  # (N,) float64 host copy
        self.fast = bool(self.host.pools_by_attention) and (self.gates is None or self.host.gate_mode == "attention_bias")
        with torch.inference_mode():
            if self.fast:
                self.e, z = self.host.embed(self.x)  # (N, H), (N,)
                self.z = z if self.gates is None else z + gate_log_bias(self.gates)  # (N,)
                self.z_plain = z  # (N,) without gate bias
            full = self.host(self.x, self.coords, gate=self.gates)
        self.output_before = full.output.cpu().double().numpy().reshape(-1)  # (C,)
        self.predicted = int(np.argmax(self.output_before)) if self.task == "classification" else 0
        self.probs_before = self._probs(self.output_before[None])[0]
        self.phi_before = float(self._phi(self.output_before[None])[0])
        self._empty: np.ndarray | None = None
        self._acc: tuple | None = None

    # ----------------------------------------------------------------- numbers from raw outputs
    def _probs(self, out: np.ndarray) -> np.ndarray:
        """(B, C) raw -> (B, C) probabilities (survival/regression: unchanged)."""
        if self.task != "classification":
            return out.copy()
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _phi(self, out: np.ndarray) -> np.ndarray:
        """(B, C) raw -> (B,) Φ."""
        if self.task == "classification":
            return self._probs(out)[:, self.predicted]
        if self.task == "regression":  # the output, already in target-SD units
            return out[:, 0].astype(np.float64, copy=True)
        mu, sd = self.risk_scale
        return 1.0 / (1.0 + np.exp(-(out[:, 0] - mu) / sd))

    def empty_output(self) -> np.ndarray:
        """(C,) float64 raw output of the empty bag: the host on one all-zero patch (cached)."""
        if self._empty is None:
            x0 = torch.zeros(1, self.x.shape[1], dtype=self.x.dtype, device=self.x.device)
            c0 = None if self.coords is None else torch.zeros(1, 2, dtype=self.coords.dtype, device=self.x.device)
            with torch.inference_mode():
                self._empty = self.host(x0, c0, gate=None).output.cpu().double().numpy().reshape(-1)
        return self._empty

    # ----------------------------------------------------------------- core evaluation
    def _index(self, indices) -> np.ndarray:
        idx = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
        if idx.size and (idx[0] < 0 or idx[-1] >= self.n):
            raise EvidentError(None, f"patch indices outside [0, {self.n})")
        return idx

    def _eval_subset(self, keep: np.ndarray, *, hard: bool = False, gate: Tensor | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw output (C,) and attention over kept patches (K,) for the sorted kept indices ``keep``."""
        if keep.size == 0:
            return self.empty_output(), None
        t = torch.from_numpy(keep).to(self.x.device)
        with torch.inference_mode():
            if self.fast:
                if gate is not None:
                    z = self.z_plain + gate_log_bias(gate)  # (N,)
                else:
                    z = self.z_plain if hard else self.z  # (N,)
                if 2 * keep.size < self.n:  # few kept: gather them
                    att = torch.softmax(z[t], dim=0)  # (K,)
                    out = self.host.head(att @ self.e[t])  # (C,)
                else:  # most kept: mask the logits, no copy of the embeddings
                    m = torch.zeros(self.n, dtype=torch.bool, device=self.x.device)
                    m[t] = True
                    a = torch.softmax(z.masked_fill(~m, float("-inf")), dim=0)  # (N,)
                    out = self.host.head(a @ self.e)  # (C,)
                    att = a[t]
            else:
                g = gate[t] if gate is not None else (None if (hard or self.gates is None) else self.gates[t])
                ho = self.host(self.x[t], None if self.coords is None else self.coords[t], gate=g)
                out, att = ho.output, ho.attention
        return out.cpu().double().numpy().reshape(-1), None if att is None else att.cpu().double().numpy()

    def _result(self, out: np.ndarray, keep: np.ndarray, att: np.ndarray | None, gates: Tensor | None) -> InterventionResult:
        att_full = None
        if att is not None:
            att_full = np.full(self.n, np.nan)
            att_full[keep] = att
        g_full = None
        if gates is not None:
            g_full = np.full(self.n, np.nan)
            src = self.gates_np if gates is self.gates else gates.cpu().double().numpy()  # (N,)
            g_full[keep] = src[keep]
        phi = float(self._phi(out[None])[0])
        return InterventionResult(self.probs_before, self._probs(out[None])[0], self.phi_before, phi,
                                  phi - self.phi_before, att_full, g_full)

    # ----------------------------------------------------------------- public interventions
    def keep_only(self, indices, *, hard: bool = False) -> InterventionResult:
        """Keep only patches ``indices`` ((K,) int); ``hard``: every kept gate 1 (discrete evidence)."""
        keep = self._index(indices)
        out, att = self._eval_subset(keep, hard=hard)
        return self._result(out, keep, att, None if hard else self.gates)

    def _totals(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Cached float64 ``w = exp(z − max z)`` (N,), ``W = Σ w`` (), ``S = Σ w_i e_i`` (H,), max z."""
        if self._acc is None:
            with torch.inference_mode():
                zmax = self.z.max()
                w = torch.exp((self.z - zmax).double())  # (N,)
                s = torch.zeros(self.e.shape[1], dtype=torch.float64, device=self.x.device)  # (H,)
                for i in range(0, self.n, 16384):
                    s += w[i:i + 16384] @ self.e[i:i + 16384].double()
            self._acc = (w, w.sum(), s, zmax)
        return self._acc

    def _eval_removed(self, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Output (C,) and attention (N,) (NaN where removed) after dropping a few patches, in
        O(|removed| · H): the softmax sums of the full bag minus the removed terms (float64).
        ``None`` when the removed patches hold nearly all the attention (then recompute directly)."""
        w, total, s, _ = self._totals()
        t = torch.from_numpy(removed).to(self.x.device)
        with torch.inference_mode():
            w_r = w[t]  # (R,)
            rest = total - w_r.sum()
            if not bool(rest > 1e-6 * total):
                return None
            h = (s - w_r @ self.e[t].double()) / rest  # (H,)
            out = self.host.head(h.to(self.e.dtype))  # (C,)
            att = (w / rest).cpu().numpy()  # (N,)
        att[removed] = np.nan
        return out.cpu().double().numpy().reshape(-1), att

    def remove(self, indices) -> InterventionResult:
        """Drop patches ``indices`` ((K,) int) from the bag."""
        removed = self._index(indices)
        mask = np.ones(self.n, dtype=bool)
        mask[removed] = False
        keep = np.flatnonzero(mask)
        fast = self._eval_removed(removed) if self.fast and 2 * removed.size < self.n else None
        if fast is not None:
            out, att_full = fast
            r = self._result(out, keep, None, self.gates)
            return InterventionResult(r.probs_before, r.probs_after, r.phi_before, r.phi_after, r.phi_delta, att_full, r.gates_after)
        out, att = self._eval_subset(keep)
        return self._result(out, keep, att, self.gates)

    def soft_gate(self, gate) -> InterventionResult:
        """Replace the gates by ``gate`` ((N,) in [0, 1]) on the whole bag (injected per the host's gate mode)."""
        g = torch.as_tensor(np.asarray(gate, dtype=np.float32)).to(self.x.device).reshape(-1)
        if g.shape[0] != self.n:
            raise EvidentError(None, f"gate has {g.shape[0]} values, the bag has {self.n} patches")
        keep = np.arange(self.n)
        out, att = self._eval_subset(keep, gate=g)
        return self._result(out, keep, att, g)

    def _many(self, masks: np.ndarray, hard: bool = False) -> BatchResult:
        """(B, N) bool kept-masks -> :class:`BatchResult`."""
        b = masks.shape[0]
        outs = np.empty((b, self.output_before.shape[0]))
        if self.fast:
            z = self.z_plain if hard else self.z
            chunk = max(1, int(2e7 // max(self.n, 1)))
            for s in range(0, b, chunk):
                m = torch.from_numpy(masks[s:s + chunk]).to(self.x.device)  # (b', N)
                with torch.inference_mode():
                    logits = z.unsqueeze(0).masked_fill(~m, float("-inf"))  # (b', N)
                    a = torch.softmax(logits, dim=1)  # (b', N)
                    o = self.host.head(a @ self.e)  # (b', C)
                outs[s:s + chunk] = o.cpu().double().numpy()
            empty = ~masks.any(axis=1)
            if empty.any():
                outs[empty] = self.empty_output()
        else:
            for i in range(b):
                outs[i] = self._eval_subset(np.flatnonzero(masks[i]), hard=hard)[0]
        return BatchResult(outs, self._probs(outs), self._phi(outs))

    def keep_only_many(self, index_sets: Sequence, *, hard: bool = False) -> BatchResult:
        """Keep-only for each index array in ``index_sets`` (B of them) at once."""
        masks = np.zeros((len(index_sets), self.n), dtype=bool)
        for i, idx in enumerate(index_sets):
            masks[i, self._index(idx)] = True
        return self._many(masks, hard)

    def remove_many(self, index_sets: Sequence) -> BatchResult:
        """Remove each index array in ``index_sets`` (B of them) at once."""
        masks = np.ones((len(index_sets), self.n), dtype=bool)
        for i, idx in enumerate(index_sets):
            masks[i, self._index(idx)] = False
        return self._many(masks)

    def phi_drop(self, out: np.ndarray) -> np.ndarray:
        """(B, C) raw outputs -> (B,) how far each moved the prediction away from the full bag's:
        ``Φ(X) − Φ`` (classification, survival), ``|Φ(X) − Φ|`` (regression, target-SD units)."""
        return self.drop_of_phi(self._phi(np.asarray(out, dtype=np.float64).reshape(-1, self.output_before.shape[0])))

    def drop_of_phi(self, phi) -> np.ndarray:
        """(B,) Φ values -> (B,) :meth:`phi_drop` (``Φ(X) − Φ``; regression ``|Φ(X) − Φ|``)."""
        d = self.phi_before - np.asarray(phi, dtype=np.float64)
        return np.abs(d) if self.task == "regression" else d

    def preserves_prediction(self, out: np.ndarray) -> np.ndarray:
        """(B, C) raw outputs -> (B,) bool: the full bag's class is still predicted (always true for
        survival and regression, whose preservation is the tolerance on :meth:`phi_drop`)."""
        out = np.asarray(out, dtype=np.float64).reshape(-1, self.output_before.shape[0])
        if self.task == "classification":
            return out.argmax(axis=1) == self.predicted
        return np.ones(out.shape[0], dtype=bool)

    def phi_of_output(self, out: np.ndarray) -> float:
        """Φ of one raw output (C,)."""
        return float(self._phi(np.asarray(out, dtype=np.float64).reshape(1, -1))[0])
