"""Every patch encoder by spec string: :func:`build_encoder` (as hosts and explainers have theirs).

Specs:

``builtin``
    :class:`core.extract.encoders.builtin.StainTextureEncoder`: hand-made stain and texture
    features, deterministic, no downloaded weights.
``torchscript:PATH``
    :class:`core.extract.encoders.torchscript.TorchScriptEncoder`: a TorchScript module the user
    supplies (for example a pathology foundation model exported with ``torch.jit.trace``).

An encoder kind is registered in :data:`ENCODERS` as ``kind -> EncoderKind`` with a builder that takes
the part after ``kind:`` (empty for ``builtin``) and the shared :class:`EncoderOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from core.errors import EvidentError
from core.extract.encoders.base import PatchEncoder
from core.extract.encoders.builtin import StainTextureEncoder
from core.extract.encoders.torchscript import TorchScriptEncoder

__all__ = ["ENCODERS", "ENCODER_SPECS", "EncoderKind", "EncoderOptions", "build_encoder"]

@dataclass(frozen=True)
class EncoderOptions:
    """Settings model encoders share: torch ``device`` (None/"auto": CUDA, then MPS, then CPU), the
    patch side ``size`` in px the patches are resized to (None: as extracted) and the input
    ``normalization`` (:data:`core.extract.encoders.torchscript.NORMALIZATIONS`)."""

    device: str | None = None
    size: int | None = 224
    normalization: str = "imagenet"


class EncoderKind(NamedTuple):
    """One registered kind: its spec as shown to users, and ``build(argument, options)``."""

    spec: str
    build: Callable[[str, EncoderOptions], PatchEncoder]


def _builtin(arg: str, options: EncoderOptions) -> PatchEncoder:
    if arg:
        raise EvidentError(None, f"encoder spec 'builtin:{arg}': builtin takes no argument")
    return StainTextureEncoder()


def _torchscript(arg: str, options: EncoderOptions) -> PatchEncoder:
    if not arg:
        raise EvidentError(None, "encoder spec 'torchscript:' needs a file path (torchscript:PATH)")
    return TorchScriptEncoder(arg, device=options.device, size=options.size or None,
                              normalization=options.normalization)


#: kind -> how to build it.
ENCODERS: dict[str, EncoderKind] = {
    "builtin": EncoderKind("builtin", _builtin),
    "torchscript": EncoderKind("torchscript:PATH", _torchscript),
}
ENCODER_SPECS = tuple(k.spec for k in ENCODERS.values())


def build_encoder(spec: str = "builtin", *, device: str | None = None, size: int | None = 224,
                  normalization: str = "imagenet") -> PatchEncoder:
    """Build the encoder a spec string names (see the module docstring).

    Parameters
    ----------
    spec
        ``"builtin"`` or ``"torchscript:PATH"``.
    device, size, normalization
        As :class:`EncoderOptions`.

    Raises
    ------
    EvidentError
        Unknown spec, or a model file that cannot be loaded or gives the wrong output shape.
    """
    spec = (spec or "").strip()
    kind, _, arg = spec.partition(":")
    if kind not in ENCODERS:
        raise EvidentError(None, f"unknown encoder {spec!r} (use one of: {', '.join(ENCODER_SPECS)})")
    return ENCODERS[kind].build(arg, EncoderOptions(device=device, size=size, normalization=normalization))
