"""GCE-MIL: grounded, coverage-driven evidence selection around any MIL host (docs/method.md §3).

The host stays unchanged. Per bag of N patches with features ``h`` (N, d) and coordinates (N, 2)::

    e      = LayerNorm((I + U Vᵀ) h)                    # adapter; feeds only the selector
    r      = σ(γ (cos(B(h), a) − δ))                    # (N, M) anchor responses, anchors frozen
    s      = MLP([e ; ĉ])                               # ĉ: per-slide min–max coords in [0, 1]
    π      = σ((s − ν) / T)                             # gates; T annealed 1.0 → 0.4 by epoch
                                                        # (option nu_mode="quantile": ν per bag)
    v      = 1 − Π_i (1 − π_i r_im)                     # (M,) noisy-OR coverage (log space)
    ŷ      = host(h, coords, gate=π)                    # injected per host.gate_mode
    α      = softplus(θ)                                # (C, M) class utility weights

Ablations (docs/method.md §3.11) — **[decision]** read cumulatively, annealing last:

=========  ========  ======  =========  ========  =========
name       selector  budget  recovery   ground    annealing
=========  ========  ======  =========  ========  =========
backbone   no        –       –          –         –
naive      yes       no      no         no        no
budget     yes       yes     no         no        no
recovery   yes       yes     yes        no        no
grounding  yes       yes     yes        yes       no
full       yes       yes     yes        yes       yes
=========  ========  ======  =========  ========  =========

"recovery" means the evidence at inference is the threshold-plus-repair subset
(:func:`core.evidence.recovery.recover`); without it, the evidence is the threshold set alone.
Without annealing T stays at ``t_start``. The training loss lives in :mod:`core.models.gce_loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.base import HostConfig, HostOutput, MILHost
from core.models.gce_config import ABLATIONS, GCEConfig
from core.models.gce_loss import gce_objective
from core.models.gce_parts import (
    LowRankAdapter,
    Selector,
    anchor_responses,
    make_bridge,
    noisy_or_coverage,
    normalise_coords,
)
from core.models.registry import build_host

__all__ = ["ABLATIONS", "GCEConfig", "GCEModel", "GCEOutput", "build_gce"]

class GCEOutput(NamedTuple):
    """What :meth:`GCEModel.forward` returns for one bag.

    Attributes
    ----------
    host
        The host's :class:`HostOutput` on the gated bag.
    gates
        (N,) π in [0, 1] (all ones for the "backbone" ablation).
    responses
        (N, M) anchor responses r.
    coverage
        (M,) noisy-OR coverage v(π).
    selector_logits
        (N,) s (zeros for "backbone").
    """

    host: HostOutput
    gates: Tensor
    responses: Tensor
    coverage: Tensor
    selector_logits: Tensor


class GCEModel(nn.Module):
    """The GCE wrapper around a host. Build with :func:`build_gce`.

    Attributes
    ----------
    host
        The wrapped :class:`MILHost`.
    anchors
        Buffer (M, d_a) float32, frozen.
    temperature
        Buffer () the current gate temperature T.
    """

    def __init__(
        self,
        host: MILHost,
        n_anchors: int,
        anchor_dim: int,
        config: GCEConfig,
        anchor_digest: str = "",
        prompts: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        d = host.config.in_dim
        self.host = host
        self.config = config
        self.anchor_digest = anchor_digest
        self.prompts = tuple(str(p) for p in prompts)
        self.register_buffer("anchors", torch.zeros(n_anchors, anchor_dim))  # (M, d_a)
        self.register_buffer("temperature", torch.tensor(float(config.t_start)))  # ()
        self.adapter = LowRankAdapter(d, config.rank)
        self.bridge = make_bridge(d, anchor_dim, constrained=config.bridge == "constrained")
        self.selector = Selector(d, config.selector_hidden)
        self.theta = nn.Parameter(torch.zeros(host.config.n_outputs, n_anchors))  # (C, M)

    @property
    def n_anchors(self) -> int:
        """M."""
        return int(self.anchors.shape[0])

    def class_weights(self) -> Tensor:
        """α = softplus(θ): (C, M), C = host outputs (survival: one risk row)."""
        return F.softplus(self.theta)

    def set_epoch(self, epoch: int, n_epochs: int) -> None:
        """Anneal T linearly from ``t_start`` (epoch 0) to ``t_end`` (epoch ``n_epochs − 1``).

        Epochs are counted from 0. Without annealing (ablations other than "full") T stays ``t_start``.
        """
        c = self.config
        if not c.uses_annealing:
            t = c.t_start
        elif n_epochs <= 1:
            t = c.t_end
        else:
            frac = min(max(epoch / (n_epochs - 1), 0.0), 1.0)
            t = c.t_start + (c.t_end - c.t_start) * frac
        self.temperature.fill_(float(t))

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> GCEOutput:
        """Gate and predict one bag.

        Parameters
        ----------
        features
            (N, d) float patch features.
        coords
            (N, 2) level-0 coordinates, or ``None``.
        gate
            (N,) gate overriding the selector's (e.g. a hard subset), or ``None``: the selector's own
            gates ("backbone": no gate at all).
        """
        n = features.shape[0]
        responses = anchor_responses(self.bridge(features), self.anchors, self.config.gamma, self.config.delta)  # (N, M)
        if self.config.uses_selector:
            e = self.adapter(features)  # (N, d)
            logits = self.selector(e, normalise_coords(coords, n, features))  # (N,)
            gates = torch.sigmoid((logits - self._centre(logits)) / self.temperature)  # (N,)
        else:
            logits = features.new_zeros(n)  # (N,)
            gates = features.new_ones(n)  # (N,)
        if gate is not None:
            gates = gate.to(features.dtype)
        host_gate = gates if (gate is not None or self.config.uses_selector) else None
        out = self.host(features, coords, gate=host_gate)
        return GCEOutput(out, gates, responses, noisy_or_coverage(gates, responses), logits)

    def _centre(self, logits: Tensor) -> Tensor | float:
        """ν: ``nu``, or with ``nu_mode="quantile"`` ``nu`` + the (1 − ρ)-quantile of (N,) ``logits`` (detached)."""
        c = self.config
        if getattr(c, "nu_mode", "constant") != "quantile":
            return c.nu
        return c.nu + torch.quantile(logits.detach(), 1.0 - c.budget)

    def predicted_class_weights(self, out: GCEOutput) -> np.ndarray:
        """α of the class predicted from the soft-gated bag (survival: the risk row): (M,) float64."""
        alpha = self.class_weights().detach()
        k = int(out.host.output.argmax()) if alpha.shape[0] > 1 else 0
        return alpha[k].cpu().double().numpy()

    def objective(self, task: str, task_loss: Callable | None = None) -> Callable:
        """A training objective ``(model, features, coords, target) -> (loss (), output)`` (core.train).

        ``task_loss`` defaults to :func:`core.models.losses.task_loss` (see :mod:`core.models.gce_loss`).
        """
        return gce_objective(task, task_loss)

    def to_config(self) -> dict:
        """JSON-serialisable config; with the host's entries it rebuilds the model (:meth:`from_config`)."""
        return {
            "host": self.host.name,
            "host_config": self.host.config.to_dict(),
            "gce": {
                **asdict(self.config),
                "n_anchors": self.n_anchors,
                "anchor_dim": int(self.anchors.shape[1]),
                "anchor_digest": self.anchor_digest,
                "prompts": list(self.prompts),
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> GCEModel:
        """Rebuild an (untrained) model from :meth:`to_config` (plus any other checkpoint keys).

        The anchors, temperature and weights come from the checkpoint's state dict.
        """
        g = config["gce"]
        host = build_host(config["host"], HostConfig.from_dict(config["host_config"]))
        return cls(host, int(g["n_anchors"]), int(g["anchor_dim"]), GCEConfig.from_dict(g),
                   str(g.get("anchor_digest", "")), tuple(g.get("prompts", ())))


def build_gce(
    host: MILHost,
    anchors: np.ndarray,
    config: GCEConfig | None = None,
    anchor_digest: str = "",
    prompts: tuple[str, ...] = (),
    feature_mean: np.ndarray | None = None,
) -> GCEModel:
    """Wrap ``host`` with GCE around frozen ``anchors``.

    Parameters
    ----------
    host
        Any :class:`MILHost`.
    anchors
        (M, d_a) float anchor embeddings (d_a may differ from the host's d: the bridge maps d → d_a).
    config
        :class:`GCEConfig` (default: paper values, ablation "full").
    anchor_digest
        :meth:`core.data.anchors.AnchorBank.digest` of the bank, kept in the checkpoint config.
    prompts
        The M anchor names (the bank's prompts), kept in the checkpoint config.
    feature_mean
        (d,) mean training feature μ: the bridge's bias starts at ``−W μ`` so that ``B(h) = W (h − μ)``
        at initialisation (pair with centred prototype anchors). ``None``: bias 0.
    """
    a = np.array(anchors, dtype=np.float32, copy=True)  # writable, owned
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"anchors must be (M, d_a) with M ≥ 1, got shape {a.shape}")
    if prompts and len(prompts) != a.shape[0]:
        raise ValueError(f"{len(prompts)} prompts for {a.shape[0]} anchors")
    model = GCEModel(host, a.shape[0], a.shape[1], config or GCEConfig(), anchor_digest, prompts)
    with torch.no_grad():
        model.anchors.copy_(torch.from_numpy(a))
        if feature_mean is not None:
            mu = torch.as_tensor(np.asarray(feature_mean, dtype=np.float32).reshape(-1))
            lin = model.bridge
            weight = lin.weight if not hasattr(lin, "parametrizations") else lin.parametrizations.weight.original
            if mu.shape[0] != weight.shape[1]:
                raise ValueError(f"feature_mean has {mu.shape[0]} values, features have {weight.shape[1]}")
            lin.bias.copy_(-(lin.weight @ mu))
    return model
