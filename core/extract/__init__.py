"""Patch extraction: tissue detection, the patch grid, patch encoders, slide -> feature file.

Modules: :mod:`core.extract.tissue` (tissue mask on a thumbnail, per-patch tissue fraction),
:mod:`core.extract.grid` (magnification, level-0 patch size, read level, tissue filter),
:mod:`core.extract.encoders` (one :class:`~core.extract.encoders.base.PatchEncoder` interface:
``builtin`` stain/texture features, ``torchscript:PATH`` models), :mod:`core.extract.pipeline`
(:func:`~core.extract.pipeline.extract_slide`, used by ``evident extract``).
"""

from __future__ import annotations

__all__: list[str] = []
