"""Patch encoders: one interface (:class:`PatchEncoder`), chosen by a spec string (:func:`build_encoder`)."""

from __future__ import annotations

from core.extract.encoders.base import PatchEncoder
from core.extract.encoders.registry import ENCODER_SPECS, build_encoder

__all__ = ["PatchEncoder", "build_encoder", "ENCODER_SPECS"]
