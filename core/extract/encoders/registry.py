"""Every patch encoder by spec string: :func:`build_encoder` (as hosts and explainers have theirs).

Specs:

``builtin``
    :class:`core.extract.encoders.builtin.StainTextureEncoder`: hand-made stain and texture
    features, deterministic, no downloaded weights.
``torchscript:PATH``
    :class:`core.extract.encoders.torchscript.TorchScriptEncoder`: a TorchScript module the user
    supplies (for example a pathology foundation model exported with ``torch.jit.trace``).
``timm:ARCH``
    Any timm architecture with weights from ``--weights FILE`` (or the cached hub repo
    ``timm/ARCH``), fed with timm's eval transform
    (:func:`core.extract.encoders.timm_encoder.build_timm_encoder`).
``uni_v1``, ``uni_v2``, ``conch_v1``, ``virchow2``, ``hoptimus0``, ``gigapath``
    Named pathology foundation models as TRIDENT builds them
    (:mod:`core.extract.encoders.foundation`), with weights from ``--weights FILE`` or the local
    Hugging Face cache.

An encoder kind is registered in :data:`ENCODERS` as ``kind -> EncoderKind`` with a builder that takes
the part after ``kind:`` (empty for ``builtin`` and the named encoders) and the shared
:class:`EncoderOptions`. See docs/bring_your_own.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from core.errors import EvidentError
from core.extract.encoders.base import PatchEncoder
from core.extract.encoders.builtin import StainTextureEncoder
from core.extract.encoders.foundation import FOUNDATION_ENCODERS
from core.extract.encoders.timm_encoder import build_foundation_encoder, build_timm_encoder
from core.extract.encoders.torchscript import NORMALIZATIONS, TorchScriptEncoder

__all__ = ["ENCODERS", "ENCODER_SPECS", "EncoderKind", "EncoderOptions", "build_encoder"]

@dataclass(frozen=True)
class EncoderOptions:
    """Settings model encoders share: torch ``device`` (None/"auto": CUDA, then MPS, then CPU), the
    patch side ``size`` in px the patches are resized to (None: the model's own, or as extracted
    for TorchScript), the input ``normalization`` (:data:`core.extract.encoders.torchscript.NORMALIZATIONS`;
    None: the model's own, ImageNet for TorchScript), the ``weights`` file of timm/named encoders,
    ``precision`` on CUDA (auto, fp32, fp16, bf16), ``allow_download`` (fetch missing weights from
    the Hugging Face hub) and ``model_options`` (extra ``timm.create_model`` keyword arguments)."""

    device: str | None = None
    size: int | None = None
    normalization: str | None = None
    weights: str | None = None
    precision: str = "auto"
    allow_download: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)


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
    return TorchScriptEncoder(arg, device=options.device, size=224 if options.size is None else options.size or None,
                              normalization=options.normalization or "imagenet")


def _timm(arg: str, options: EncoderOptions) -> PatchEncoder:
    if not arg:
        raise EvidentError(None, "encoder spec 'timm:' needs an architecture (timm:ARCH, e.g. timm:vit_small_patch16_224)")
    if options.normalization is not None and options.normalization not in NORMALIZATIONS:
        raise EvidentError(None, f"unknown normalization {options.normalization!r}")
    norm = NORMALIZATIONS.get(options.normalization or "", None)
    if options.normalization == "none":
        norm = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return build_timm_encoder(arg, weights=options.weights, device=options.device, precision=options.precision,
                              options=options.model_options, allow_download=options.allow_download,
                              size=options.size or None, mean_std=norm)


def _named(name: str, arg: str, options: EncoderOptions) -> PatchEncoder:
    if arg:
        raise EvidentError(None, f"encoder spec '{name}:{arg}': {name} takes no argument (use --weights FILE)")
    if options.size or options.normalization:
        raise EvidentError(None, f"{name} has its own input size and normalisation; "
                                 "--encoder-size/--encoder-norm apply to timm:ARCH and torchscript:PATH")
    return build_foundation_encoder(name, weights=options.weights, device=options.device,
                                    precision=options.precision, options=options.model_options,
                                    allow_download=options.allow_download)


#: kind -> how to build it.
ENCODERS: dict[str, EncoderKind] = {
    "builtin": EncoderKind("builtin", _builtin),
    "torchscript": EncoderKind("torchscript:PATH", _torchscript),
    "timm": EncoderKind("timm:ARCH", _timm),
    **{name: EncoderKind(name, partial(_named, name)) for name in FOUNDATION_ENCODERS},
}
ENCODER_SPECS = tuple(k.spec for k in ENCODERS.values())


def build_encoder(spec: str = "builtin", *, device: str | None = None, size: int | None = None,
                  normalization: str | None = None, weights: str | None = None, precision: str = "auto",
                  allow_download: bool = False, model_options: dict[str, Any] | None = None) -> PatchEncoder:
    """Build the encoder a spec string names (see the module docstring).

    Parameters
    ----------
    spec
        ``"builtin"``, ``"torchscript:PATH"``, ``"timm:ARCH"`` or a named encoder (``"uni_v1"``, ...).
    device, size, normalization, weights, precision, allow_download, model_options
        As :class:`EncoderOptions`.

    Raises
    ------
    EvidentError
        Unknown spec, missing or mismatched weights, or a model file that cannot be loaded or gives
        the wrong output shape.
    """
    spec = (spec or "").strip()
    kind, _, arg = spec.partition(":")
    if kind not in ENCODERS:
        raise EvidentError(None, f"unknown encoder {spec!r} (use one of: {', '.join(ENCODER_SPECS)})")
    if weights is not None and kind in ("builtin", "torchscript"):
        raise EvidentError(weights, f"--weights applies to timm:ARCH and the named encoders, not {kind}")
    return ENCODERS[kind].build(arg, EncoderOptions(device=device, size=size, normalization=normalization,
                                                    weights=weights, precision=precision,
                                                    allow_download=allow_download,
                                                    model_options=dict(model_options or {})))
