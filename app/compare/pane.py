"""One pane of the compare view: a slide view showing one map of the review session.

Signals
-------
ComparePane.layer_chosen(name: str)
    The user picked another map for this pane.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.compare.swipe import SwipeController
from app.viewer.overlay_layer import OverlayStack
from app.viewer.slide_view import SlideView

__all__ = ["ComparePane"]


from core.review.layer_render import colorbar_ends


class ComparePane(QWidget):
    """A :class:`SlideView` with its own overlay (one scalar map chosen in a combo box), and optionally
    a swipe curtain showing a second map left of a draggable line."""

    layer_chosen = Signal(str)

    def __init__(self, session, title: str, parent: QWidget | None = None, *, tile_workers: int = 2,
                 lookup=None) -> None:
        super().__init__(parent)
        self.session = session
        self.lookup = lookup or session.layer  # name -> Layer (the compare window's own maps first)
        self.view = SlideView(self, tile_workers=tile_workers)
        self.overlays = OverlayStack(self.view.view_box)
        self.swipe_overlays = OverlayStack(self.view.view_box)
        self.swipe: SwipeController | None = None
        self.swipe_layer: str | None = None
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(14)
        self.title = QLabel(title)
        head = QHBoxLayout()
        head.setContentsMargins(4, 2, 4, 2)
        head.addWidget(self.title)
        head.addWidget(self.combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(head)
        lay.addWidget(self.view, 1)
        self.combo.currentTextChanged.connect(self._chosen)

    @property
    def layer_name(self) -> str:
        return self.combo.currentText()

    def set_choices(self, names: list[str], current: str | None = None) -> None:
        """Offer ``names`` (scalar layers), keeping the current choice when it still exists."""
        keep = current if current in names else (self.layer_name if self.layer_name in names else (names[0] if names else ""))
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(names)
        self.combo.setCurrentText(keep)
        self.combo.blockSignals(False)
        self.redraw()

    def set_layer(self, name: str) -> None:
        self.combo.setCurrentText(name)

    def _chosen(self, name: str) -> None:
        self.redraw()
        self.layer_chosen.emit(name)

    def set_slide(self, reader) -> None:
        if self.view.reader is not reader:
            self.set_swipe(None)
            self.view.set_slide(reader)

    def _layer(self, name: str | None):
        try:
            return self.lookup(name) if name else None
        except KeyError:
            return None

    def redraw(self) -> None:
        """Draw this pane's map (and the swipe map, clipped) from the session's current layers."""
        grid = self.session.grid
        layer = self._layer(self.layer_name)
        self.overlays.sync((layer.with_settings(visible=True),) if layer is not None else (), grid)
        self.view.colorbar.set_layer(None)
        if layer is not None:
            from core.review.normalise import colormap_lut

            self.view.colorbar.set_layer(colormap_lut(layer.settings.colormap), f"{layer.name} — {layer.units}",
                                         layer.settings.describe(), colorbar_ends(layer.values, layer))
        other = self._layer(self.swipe_layer)
        self.swipe_overlays.sync((other.with_settings(visible=True),) if other is not None and self.swipe else (), grid)
        if self.swipe is not None and other is not None:
            self.swipe.set_items(self.swipe_overlays.items.get(other.name, []),
                                 self.overlays.items.get(layer.name, []) if layer is not None else [])
        if self.swipe is not None:
            self.swipe.set_labels(other.name if other is not None else "", layer.name if layer is not None else "")

    def set_swipe(self, other: str | None) -> None:
        """Show map ``other`` left of a curtain over this pane's map (``None`` removes the curtain)."""
        if self.swipe is not None:  # take the clipped items out first, then the clips
            self.swipe_overlays.sync((), None)
            self.overlays.sync((), None)
            self.swipe.remove()
            self.swipe = None
        self.swipe_layer = other
        if other is not None and (self.view.reader is not None or self.session.grid is not None):
            bounds = ((0.0, 0.0, *map(float, self.view.reader.dimensions)) if self.view.reader is not None
                      else self.session.grid.rect)
            self.swipe = SwipeController(self.view.view_box, bounds, self)
        self.redraw()

    def shutdown(self) -> None:
        self.view.shutdown()
