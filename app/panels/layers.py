"""The layers dock: visibility, order, colormap, normalisation, opacity and threshold per layer.

Also: "clip to tissue" and Gaussian smoothing (sigma in patches) for map layers, filled vs outlined
for subsets and regions, and a "Detect tissue" button. It only writes into the review session
(``update_layer``, ``move_layer``) and redraws itself from the session's ``layers_changed`` /
``layer_changed`` signals; it never talks to the view. Tissue detection runs in the window: the
panel emits ``tissue_requested()`` (also when clipping is switched on before tissue is known).

The selected row is the session's ``current_layer`` (the colorbar follows it). While the opacity or
threshold slider is dragged, changes reach the session at most once per :data:`THROTTLE_MS` (the
first at once, the last when the slider is released); keyboard and programmatic changes apply at
once. Subset and region rows carry a swatch of their outline colour. Region layers read from files
are marked read-only; "Edit as annotations" (button, right-click on the row) emits
``edit_requested(name)`` for the annotator to convert it (docs/annotate.md).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.review.annotation_metrics import AnnotationMasks
from core.review.layers import RegionLayer, ScalarLayer
from core.review.loading import file_region_layers
from core.review.normalise import COLORMAPS, NORM_MODES
from core.review.session import ReviewSession

__all__ = ["LayersPanel", "THROTTLE_MS"]

THROTTLE_MS = 30  # at most one session update per this many ms while a slider is dragged

_NORM_LABELS = {"percentile": "percentile clip", "rank": "rank (CLAM)", "minmax": "min–max", "manual": "manual range",
                "centered": "centred at 0"}


class _LayerList(QListWidget):
    """The layer list; it asks for 7 rows' height so the settings below fit a short dock."""

    def sizeHint(self):  # noqa: N802 - Qt naming
        hint = super().sizeHint()
        hint.setHeight(120)
        return hint

    def minimumSizeHint(self):  # noqa: N802 - Qt naming
        hint = super().minimumSizeHint()
        hint.setHeight(96)
        return hint


class LayersPanel(QWidget):
    """List of layers (top first, checkable) and the settings of the selected one."""

    tissue_requested = Signal()
    edit_requested = Signal(str)  # "Edit as annotations" on a read-only region layer (the annotator converts it)

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._annotation_masks = AnnotationMasks()  # patch labelling is done once per annotation and slide
        self._syncing = False
        self.throttle_ms: int | None = THROTTLE_MS  # None: every slider tick at once (benchmark baseline)
        self._pending: dict = {}
        self._pending_name: str | None = None
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.timeout.connect(self._flush)
        self._metrics_key: tuple | None = None
        self.list = _LayerList()
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._row_menu)
        self.edit_button = QPushButton("Edit as annotations")
        self.edit_button.setToolTip("Turn the chosen region layer read from a file into editable annotations "
                                    "(one undoable edit; docs/annotate.md)")
        self.edit_button.clicked.connect(lambda: self.current_name() and self.edit_requested.emit(self.current_name()))
        self.up, self.down = QPushButton("Raise"), QPushButton("Lower")
        self.cmap = QComboBox()
        self.cmap.addItems(list(COLORMAPS))
        self.norm = QComboBox()
        for mode in NORM_MODES:
            self.norm.addItem(_NORM_LABELS[mode], mode)
        self.vmin, self.vmax = QDoubleSpinBox(), QDoubleSpinBox()
        for box in (self.vmin, self.vmax):
            box.setDecimals(4)
            box.setRange(-1e9, 1e9)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 100)
        self.clip = QCheckBox("Clip to tissue (hide patches < 50% tissue)")
        self.smooth = QDoubleSpinBox()
        self.smooth.setRange(0.0, 10.0)
        self.smooth.setSingleStep(0.5)
        self.smooth.setDecimals(1)
        self.smooth.setSpecialValueText("off")
        self.smooth.setSuffix(" patches")
        self.filled = QCheckBox("Filled (else outlined)")
        self.tissue_button = QPushButton("Detect tissue")
        self.annotation_metrics = QLabel("")  # agreement of the selected map with each annotation layer
        self.annotation_metrics.setWordWrap(True)
        self.annotation_metrics.setObjectName("annotation_metrics")
        form = QFormLayout()
        form.addRow("Colormap", self.cmap)
        form.addRow("Normalise", self.norm)
        form.addRow("Min", self.vmin)
        form.addRow("Max", self.vmax)
        form.addRow("Opacity", self.opacity)
        form.addRow("Hide below", self.threshold)
        form.addRow("Smoothing σ", self.smooth)
        form.addRow(self.clip)
        form.addRow(self.filled)
        form.addRow(self.tissue_button)
        form.addRow(self.annotation_metrics)
        buttons = QHBoxLayout()
        buttons.addWidget(self.up)
        buttons.addWidget(self.down)
        buttons.addWidget(self.edit_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        lay.addLayout(form)
        self.list.itemChanged.connect(self._visibility)
        self.list.currentRowChanged.connect(lambda _: self._current_changed())
        self.up.clicked.connect(lambda: self._move(+1))
        self.down.clicked.connect(lambda: self._move(-1))
        self.cmap.currentTextChanged.connect(lambda v: self._set(colormap=v))
        self.norm.currentIndexChanged.connect(lambda _: self._set_norm())
        self.vmin.editingFinished.connect(self._set_norm)
        self.vmax.editingFinished.connect(self._set_norm)
        self.opacity.valueChanged.connect(lambda v: self._slide(opacity=v / 100))
        self.threshold.valueChanged.connect(lambda v: self._slide(threshold=v / 100))
        self.opacity.sliderReleased.connect(self._flush)
        self.threshold.sliderReleased.connect(self._flush)
        self.smooth.valueChanged.connect(lambda v: self._set(smooth_sigma=float(v)))
        self.clip.toggled.connect(self._set_clip)
        self.filled.toggled.connect(lambda v: self._set(filled=bool(v)))
        self.tissue_button.clicked.connect(self.tissue_requested)
        session.layers_changed.connect(self.rebuild)
        session.layer_changed.connect(self._layer_changed)
        self.rebuild()

    def current_name(self) -> str | None:
        """The selected row's layer, or ``None`` (no row, or a row of a layer the session no longer has)."""
        item = self.list.currentItem()
        name = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        return name if name in {x.name for x in self.session.layers} else None

    def rebuild(self) -> None:
        keep = self.current_name()
        self._syncing = True
        # While the rows are replaced the list reports transient current rows (the row under the
        # removed selection, naming a layer of the previous file); the settings are shown once below.
        blocked = self.list.blockSignals(True)
        try:
            self.list.clear()
            read_only = {x.name for x in file_region_layers(self.session.layers)}
            for layer in reversed(self.session.layers):  # top first
                kind = f"{layer.kind}, read-only" if layer.name in read_only else layer.kind
                item = QListWidgetItem(f"{layer.name}  ({kind})"
                                       + (f"  {layer.description}" if layer.description else ""))
                item.setData(Qt.ItemDataRole.UserRole, layer.name)
                if layer.name in read_only:
                    item.setToolTip(f"{layer.name}: read from {layer.source or 'a file'}, shown read-only; "
                                    "Edit as annotations (button, right-click) turns it into editable annotations")
                elif layer.description:
                    item.setToolTip(f"{layer.name}: {layer.description}\nS = keep-only drop Φ(X) − Φ(X_S), "
                                    f"N = complement drop Φ(X) − Φ(X_¬S), N∪ = drop with every set up to this one "
                                    "removed")
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if layer.settings.visible else Qt.CheckState.Unchecked)
                if not isinstance(layer, ScalarLayer):  # outlines: their colour
                    item.setIcon(_swatch(layer.settings.color))
                self.list.addItem(item)
                if layer.name == keep:
                    self.list.setCurrentItem(item)
            if self.list.currentItem() is None and self.list.count():  # the map on show, else the top row
                focus = self.session.map_in_focus()
                names = [x.name for x in reversed(self.session.layers)]
                self.list.setCurrentRow(names.index(focus.name) if focus is not None else 0)
        finally:
            self.list.blockSignals(blocked)
            self._syncing = False
        self._current_changed()

    def _read_only(self, name: str | None) -> bool:
        return name is not None and name in {x.name for x in file_region_layers(self.session.layers)}

    def _row_menu(self, pos) -> None:
        """Right-click on a row: "Edit as annotations" for a read-only region layer."""
        item = self.list.itemAt(pos)
        name = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        if not self._read_only(name):
            return
        menu = QMenu(self)
        menu.addAction(f"Edit '{name}' as annotations").triggered.connect(lambda _=False: self.edit_requested.emit(name))
        self.row_menu = menu
        menu.popup(self.list.viewport().mapToGlobal(pos))

    def _current_changed(self) -> None:
        self._flush()  # a drag's last value belongs to the layer it was made on
        self.session.set_current_layer(self.current_name())
        self._show_settings()

    def _layer_changed(self, name: str) -> None:
        self._syncing = True
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                settings = self.session.layer(name).settings
                item.setCheckState(Qt.CheckState.Checked if settings.visible else Qt.CheckState.Unchecked)
                if not isinstance(self.session.layer(name), ScalarLayer):
                    item.setIcon(_swatch(settings.color))
        self._syncing = False
        self._show_settings()

    def _show_settings(self) -> None:
        name = self.current_name()
        enabled = name is not None
        self.edit_button.setEnabled(self._read_only(name))
        for w in (self.cmap, self.norm, self.vmin, self.vmax, self.opacity, self.threshold, self.up, self.down,
                  self.smooth, self.clip, self.filled):
            w.setEnabled(enabled)
        if not enabled:
            return
        layer = self.session.layer(name)
        s = layer.settings
        self._syncing = True
        self.cmap.setCurrentText(s.colormap)
        self.norm.setCurrentIndex(NORM_MODES.index(s.norm))
        scalar = isinstance(layer, ScalarLayer)
        if scalar:
            lo, hi = (s.vmin, s.vmax) if s.norm == "manual" else (float(layer.values.min()), float(layer.values.max()))
            self.vmin.setValue(lo)
            self.vmax.setValue(hi)
        for slider, value in ((self.opacity, s.opacity), (self.threshold, s.threshold)):
            if not slider.isSliderDown():  # a dragged slider is ahead of the throttled session
                slider.setValue(round(value * 100))
        self.smooth.setValue(s.smooth_sigma)
        self.clip.setChecked(s.clip_to_tissue)
        self.filled.setChecked(s.filled)
        for w in (self.cmap, self.norm, self.threshold, self.smooth, self.clip):
            w.setEnabled(scalar)
        self.filled.setEnabled(not scalar)
        manual = scalar and s.norm == "manual"
        self.vmin.setEnabled(manual)
        self.vmax.setEnabled(manual)
        self._syncing = False
        self._show_annotation_metrics(layer)

    def _show_annotation_metrics(self, layer) -> None:
        """Coverage / precision / relevance mass / Dice of a scalar map against each annotation layer."""
        from core.review.annotation_metrics import format_metrics, map_vs_annotation

        s = self.session
        regions = [x for x in s.layers if isinstance(x, RegionLayer) and x.geometry is not None and x.name != "tissue"]
        scalar = isinstance(layer, ScalarLayer)
        key = (layer.name, id(layer.values) if scalar else None, s.grid, tuple((r.name, id(r.geometry)) for r in regions))
        if key == self._metrics_key:  # the scores and annotations are unchanged (a slider tick)
            return
        self._metrics_key = key
        if not scalar or not regions or s.grid is None or s.bag is None:
            self.annotation_metrics.setText("")
            return
        lines = [format_metrics(r.name, map_vs_annotation(layer.values, s.bag.coords, s.grid.patch_size_level0_px, r.geometry,
                                                          masks=self._annotation_masks))
                 for r in regions]
        self.annotation_metrics.setText("\n".join(lines))

    def _set(self, **changes) -> None:
        name = self.current_name()
        if self._syncing or name is None:
            return
        self.session.update_layer(name, **changes)

    def _slide(self, **changes) -> None:
        """A slider value: at once, or (while dragged) at most once per ``throttle_ms``."""
        name = self.current_name()
        if self._syncing or name is None:
            return
        dragged = self.opacity.isSliderDown() or self.threshold.isSliderDown()
        if self.throttle_ms is None or not dragged:
            self._flush()
            self.session.update_layer(name, **changes)
            return
        if self._pending_name not in (None, name):
            self._flush()
        self._pending.update(changes)
        self._pending_name = name
        if not self._throttle.isActive():  # leading edge: the first tick of a burst at once
            self._flush()
            self._throttle.start(self.throttle_ms)

    def _flush(self) -> None:
        """Apply the slider changes held back by the throttle."""
        changes, name = self._pending, self._pending_name
        self._pending, self._pending_name = {}, None
        if changes and name in {x.name for x in self.session.layers}:
            self.session.update_layer(name, **changes)
            if self.opacity.isSliderDown() or self.threshold.isSliderDown():
                self._throttle.start(self.throttle_ms)  # trailing edge: next update one interval later

    def _set_clip(self, on: bool) -> None:
        if self._syncing or self.current_name() is None:
            return
        self._set(clip_to_tissue=bool(on))
        if on and self.session.tissue is None:
            self.tissue_requested.emit()

    def _set_norm(self) -> None:
        mode = self.norm.currentData()
        if mode == "manual":
            lo, hi = self.vmin.value(), self.vmax.value()
            if hi <= lo:
                hi = lo + 1e-6
            self._set(norm=mode, vmin=lo, vmax=hi)
        else:
            self._set(norm=mode)

    def _visibility(self, item: QListWidgetItem) -> None:
        if self._syncing:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        self.session.update_layer(name, visible=item.checkState() == Qt.CheckState.Checked)

    def _move(self, step: int) -> None:
        name = self.current_name()
        if name is None:
            return
        names = [x.name for x in self.session.layers]
        self.session.move_layer(name, names.index(name) + step)


def _swatch(colour: tuple[int, int, int]) -> QIcon:
    """A 12 x 12 px icon filled with an outline colour."""
    pix = QPixmap(12, 12)
    pix.fill(QColor(*colour))
    return QIcon(pix)
