"""Host-specific options as typed, frozen fields (one dataclass per host that has any).

``HostConfig.extra`` carries them as ``(key, value)`` pairs (from ``--host-option KEY=VALUE`` or a
checkpoint's config). :func:`parse_host_options` turns those pairs into the host's options object
and refuses what the host does not know: a typo (``head=4`` for ``heads``) is an error naming the
known options, not a silently ignored setting. Values are checked against the field's type
(``int``, ``float``, ``bool``, ``str`` or a ``Literal`` choice; ``None`` means "derive the default
from the other widths").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Literal, TypeVar, Union

from core.errors import EvidentError

__all__ = ["NoOptions", "CLAMOptions", "DSMILOptions", "DTFDOptions", "TransMILOptions", "TransMILPeerOptions",
           "parse_host_options", "DistillRule", "TransMILAttention", "PeerAttention"]

DistillRule = Literal["maxmins", "maxs", "afs"]
TransMILAttention = Literal["auto", "full", "nystrom"]
PeerAttention = Literal["nystrom", "dot_prod"]


@dataclass(frozen=True)
class NoOptions:
    """A host without host-specific options (gated ABMIL)."""


@dataclass(frozen=True)
class CLAMOptions:
    """CLAM-SB: instances sampled per side ``k_sample``, bag-loss weight ``bag_weight`` in (0, 1],
    instance loss ``inst_loss``, ``subtyping`` (None: C > 2)."""

    k_sample: int = 8
    bag_weight: float = 0.7
    inst_loss: Literal["ce", "svm"] = "ce"
    subtyping: bool | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.bag_weight <= 1.0 or self.k_sample < 1:
            raise ValueError(f"clam_sb: bag_weight must be in (0, 1] and k_sample ≥ 1, got {self}")


@dataclass(frozen=True)
class DSMILOptions:
    """DSMIL: query width ``q_dim`` (None: the attention width), ``average`` bag and max-instance scores,
    ``embed``: a learnt embedding layer before both streams (False: the streams see the features, as
    DSMIL's published code, whose instance classifier is a single linear layer; then hidden = in_dim)."""

    q_dim: int | None = None
    average: bool = False
    embed: bool = True


@dataclass(frozen=True)
class DTFDOptions:
    """DTFD-MIL: pseudo-bags ``n_groups``, distillation rule ``distill``, ``instances_per_group`` (k)."""

    n_groups: int = 5
    distill: DistillRule = "maxmins"
    instances_per_group: int = 1

    def __post_init__(self) -> None:
        if self.n_groups < 1 or self.instances_per_group < 1:
            raise ValueError(f"dtfd: n_groups and instances_per_group must be ≥ 1, got {self}")


@dataclass(frozen=True)
class TransMILOptions:
    """TransMIL: ``attention`` mode, full attention up to ``full_max_tokens`` tokens in ``auto``,
    ``heads``, Nyström ``landmarks`` (None: hidden / 2)."""

    attention: TransMILAttention = "auto"
    full_max_tokens: int = 4096
    heads: int = 8
    landmarks: int | None = None


@dataclass(frozen=True)
class TransMILPeerOptions:
    """TransMIL as its published code runs it (:mod:`core.models.transmil_peer`): ``attention``
    ("nystrom" padded Nyström, or xMIL's "dot_prod"), ``heads``, ``landmarks`` (None: hidden / 2),
    ``residual_kernel`` of the value convolution (odd; 0: none)."""

    attention: PeerAttention = "nystrom"
    heads: int = 8
    landmarks: int | None = None
    residual_kernel: int = 33

    def __post_init__(self) -> None:
        if self.heads < 1 or (self.landmarks is not None and self.landmarks < 1) or self.residual_kernel < 0 \
                or (self.residual_kernel and self.residual_kernel % 2 == 0):
            raise ValueError(f"transmil_peer: heads and landmarks must be ≥ 1 and residual_kernel odd or 0, got {self}")


T = TypeVar("T")


def _check(host: str, key: str, value: object, hint: object) -> object:
    """``value`` as the field type ``hint`` wants it, or EvidentError."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise EvidentError(None, f"--host-option {key}={value!r} for host {host!r}: use one of "
                                     f"{', '.join(map(str, choices))}")
        return value
    ok = (isinstance(value, bool) if hint is bool else
          isinstance(value, int) and not isinstance(value, bool) if hint is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) if hint is float else
          isinstance(value, str) if hint is str else False)
    if not ok:
        raise EvidentError(None, f"--host-option {key}={value!r} for host {host!r}: expected {hint.__name__}")
    return float(value) if hint is float else value


def parse_host_options(options_cls: type[T], extra: tuple[tuple[str, object], ...], host: str) -> T:
    """The host's options from ``HostConfig.extra`` pairs.

    Raises
    ------
    EvidentError
        An option the host does not have (naming the ones it has), or a value of the wrong type or
        outside its choices.
    ValueError
        A combination the host cannot use (the dataclass's own check; :func:`build_host` turns it
        into an EvidentError).
    """
    hints = typing.get_type_hints(options_cls)
    known = [f.name for f in dataclasses.fields(options_cls)]
    values = {}
    for key, value in extra:
        if key not in hints:
            have = ", ".join(known) if known else "none"
            raise EvidentError(None, f"host {host!r} has no option {key!r} (its options: {have})")
        values[key] = _check(host, key, value, hints[key])
    return options_cls(**values)
