"""What the viewer shows when the pointer is over a patch: :class:`PatchReadout`.

Built by :meth:`core.review.session.ReviewSession.describe_patch`; the main window writes it in its
status line (docs/viewer.md, hover readout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["AnchorReading", "LayerReading", "PatchReadout"]


class LayerReading(NamedTuple):
    """One scalar layer at one patch: raw ``score``, ``rank`` (1 = highest) and ``percentile`` (0–100)."""

    score: float
    rank: int
    percentile: float


class AnchorReading(NamedTuple):
    """The anchor a patch responds to most: its ``name`` (prompt) and ``response`` r in [0, 1]."""

    name: str
    response: float


@dataclass(frozen=True)
class PatchReadout:
    """Hover readout of one patch.

    Attributes
    ----------
    index
        Patch index in the bag.
    coords
        ``(x, y)`` level-0 px top-left corner.
    layers
        Scalar layer name -> :class:`LayerReading`, in the session's layer order.
    gate
        GCE gate π of the patch, or ``None`` without gates.
    anchor
        :class:`AnchorReading` of the top anchor, or ``None`` without anchor responses.
    """

    index: int
    coords: tuple[int, int]
    layers: dict[str, LayerReading] = field(default_factory=dict)
    gate: float | None = None
    anchor: AnchorReading | None = None
