"""The one interface every MIL host implements.

A host maps a bag of patch features ``(N, D)`` (and their coordinates ``(N, 2)``) to a task output,
and exposes the per-patch quantities the explainers, the GCE wrapper and the intervention engine
need. Hosts are configured by values (:class:`HostConfig`), never by module instances.

Gate injection (docs/method.md §3.8): an optional per-patch gate ``π`` of shape ``(N,)`` in ``[0, 1]``
enters the way the host family requires, named by :attr:`MILHost.gate_mode`:

* ``"attention_bias"`` (ABMIL, CLAM-SB): attention logits ``z_i ← z_i + log(π_i + 1e-6)``;
* ``"feature_reweight"`` (TransMIL, DTFD-MIL): features ``h_i ← π_i h_i``;
* ``"both"`` (DSMIL): bias the bag-stream attention and reweight the instance stream.

``gate=None`` and a gate of all ones give the same output (up to float error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from core.choices import check_choice
from core.models.host_options import NoOptions, parse_host_options
from core.models.losses import Task

__all__ = ["HostConfig", "HostOutput", "MILHost", "GATE_EPS", "gate_log_bias"]

GATE_EPS = 1e-6


def gate_log_bias(gate: Tensor) -> Tensor:
    """Attention-logit bias ``log(π + 1e-6)`` for a gate ``π`` of shape (N,); returns (N,)."""
    return torch.log(gate + GATE_EPS)


@dataclass(frozen=True)
class HostConfig:
    """Values that configure a host.

    Attributes
    ----------
    in_dim
        D, the patch-feature width.
    n_outputs
        C classes for classification; 1 for survival (risk) and regression.
    task
        ``"classification"``, ``"survival"`` or ``"regression"``.
    hidden
        Width of the per-patch embedding (ABMIL/CLAM: 512/256 style; one value here).
    attn_hidden
        Width of the attention MLP.
    dropout
        Dropout probability used in training.
    extra
        Host-specific values as ``(key, value)`` pairs (e.g. TransMIL layers/heads, DTFD pseudo-bags).
    """

    in_dim: int
    n_outputs: int
    task: Task = "classification"
    hidden: int = 256
    attn_hidden: int = 128
    dropout: float = 0.25
    extra: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        check_choice(self.task, Task, "task")

    def to_dict(self) -> dict:
        """JSON-serialisable dict (``extra`` becomes a dict)."""
        d = asdict(self)
        d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HostConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["extra"] = tuple(sorted(dict(d.get("extra") or {}).items()))
        return cls(**d)

    def get(self, key: str, default: object = None) -> object:
        """Look up a host-specific value in ``extra``."""
        return dict(self.extra).get(key, default)


class HostOutput(NamedTuple):
    """What a host's forward returns for one bag of N patches.

    Attributes
    ----------
    output
        (C,) class logits for classification; (1,) risk for survival; (1,) value for regression.
    attention
        (N,) the host's per-patch attention weights summing to 1 (TransMIL: attention rollout of
        the class token, DSMIL: bag-stream attention, DTFD: tier-1 attention renormalised over the
        bag), or ``None``.
    attention_logits
        (N,) pre-softmax attention logits *including* any gate bias, for attention-pooling hosts;
        else ``None``.
    instance_logits
        (N, C) per-patch class scores where the host has them (CLAM instance classifier, DSMIL
        instance stream), else ``None``.
    embeddings
        (N, H) the per-patch embeddings that attention pooling averages (``h_bag = Σ a_i e_i``),
        cached by the intervention engine; ``None`` for hosts without a pure pooling step.
    """

    output: Tensor
    attention: Tensor | None = None
    attention_logits: Tensor | None = None
    instance_logits: Tensor | None = None
    embeddings: Tensor | None = None


class MILHost(nn.Module):
    """Base class of every host.

    Subclasses set the class attributes and implement :meth:`forward`. Attention-pooling hosts
    (``pools_by_attention = True``) must also implement :meth:`embed` and :meth:`head` such that,
    in eval mode, for any gate::

        e, z = host.embed(x)                  # (N, H), (N,) logits without gate
        a = softmax(z + log(gate + 1e-6))     # (N,)
        host.head(a @ e) == host(x, gate=gate).output

    which is what makes exact fast interventions, leave-one-out and single-patch scores possible.
    """

    name: ClassVar[str] = ""
    gate_mode: ClassVar[str] = "attention_bias"
    pools_by_attention: ClassVar[bool] = False
    uses_positional_encoding: ClassVar[bool] = False
    #: the host's typed options (core.models.host_options); parsed from ``config.extra`` into ``self.options``
    Options: ClassVar[type] = NoOptions
    #: LRP hooks (docs/explanations.md): names of the submodules whose outputs only weight patches
    #: (attention scorers); LRP holds their real-forward outputs constant (AH-rule). ``None``: the
    #: host does not support LRP. Self-attention (TransMIL) is held constant by its own flag.
    lrp_attention: ClassVar[tuple[str, ...] | None] = None
    #: LRP hooks: learnt parameters that enter the network as inputs (TransMIL's class token); they
    #: keep a share of the relevance, reported beside the patches'.
    lrp_constant_inputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: HostConfig) -> None:
        super().__init__()
        self.config = config
        self.options = parse_host_options(self.Options, config.extra, self.name)

    def forward(self, features: Tensor, coords: Tensor | None = None, gate: Tensor | None = None) -> HostOutput:
        """Predict one bag.

        Parameters
        ----------
        features
            (N, D) float patch features.
        coords
            (N, 2) level-0 patch coordinates, or ``None`` (hosts that do not use them ignore them).
        gate
            (N,) gate in ``[0, 1]`` injected per :attr:`gate_mode`, or ``None``.
        """
        raise NotImplementedError

    def embed(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """Attention-pooling hosts: (N, D) -> per-patch embeddings (N, H) and gate-free logits (N,)."""
        raise NotImplementedError(f"{self.name} does not pool by attention")

    def head(self, bag_embedding: Tensor) -> Tensor:
        """Attention-pooling hosts: bag embedding(s) (..., H) -> output (..., C)."""
        raise NotImplementedError(f"{self.name} does not pool by attention")

    def auxiliary_loss(self, out: HostOutput, target: Tensor | None) -> Tensor | None:
        """Host-specific training loss added to the task loss (CLAM instance clustering, DSMIL
        instance-stream loss, DTFD tier-1 loss), or ``None``."""
        return None
