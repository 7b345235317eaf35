"""Anchor building for GCE: from a bank file, k-means prototypes, or named exemplar patches."""

from __future__ import annotations

from core.anchors.build import (
    AnchorSpec,
    exemplar_anchor,
    load_anchors,
    parse_anchor_spec,
    prototype_anchors,
)
from core.anchors.prompts import load_prompt_set, prompt_families

__all__ = [
    "AnchorSpec",
    "exemplar_anchor",
    "load_anchors",
    "load_prompt_set",
    "parse_anchor_spec",
    "prompt_families",
    "prototype_anchors",
]
