"""The layers dock: visibility, order, colormap, normalisation, opacity and threshold per layer.

Also: "clip to tissue" and Gaussian smoothing (sigma in patches) for map layers, filled vs outlined
for subsets and regions, and a "Detect tissue" button. It only writes into the review session
(``update_layer``, ``move_layer``) and redraws itself from the session's ``layers_changed`` /
``layer_changed`` signals; it never talks to the view. Tissue detection runs in the window: the
panel emits ``tissue_requested()`` (also when clipping is switched on before tissue is known).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.review.annotation_metrics import AnnotationMasks
from core.review.normalise import COLORMAPS, NORM_MODES
from core.review.session import ReviewSession

__all__ = ["LayersPanel"]

_NORM_LABELS = {"percentile": "percentile clip", "rank": "rank (CLAM)", "minmax": "min–max", "manual": "manual range",
                "centered": "centred at 0"}


class LayersPanel(QWidget):
    """List of layers (top first, checkable) and the settings of the selected one."""

    tissue_requested = Signal()

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._annotation_masks = AnnotationMasks()  # patch labelling is done once per annotation and slide
        self._syncing = False
        self.list = QListWidget()
        self.list.setMinimumHeight(150)
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
        lay = QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        lay.addLayout(form)
        self.list.itemChanged.connect(self._visibility)
        self.list.currentRowChanged.connect(lambda _: self._show_settings())
        self.up.clicked.connect(lambda: self._move(+1))
        self.down.clicked.connect(lambda: self._move(-1))
        self.cmap.currentTextChanged.connect(lambda v: self._set(colormap=v))
        self.norm.currentIndexChanged.connect(lambda _: self._set_norm())
        self.vmin.editingFinished.connect(self._set_norm)
        self.vmax.editingFinished.connect(self._set_norm)
        self.opacity.valueChanged.connect(lambda v: self._set(opacity=v / 100))
        self.threshold.valueChanged.connect(lambda v: self._set(threshold=v / 100))
        self.smooth.valueChanged.connect(lambda v: self._set(smooth_sigma=float(v)))
        self.clip.toggled.connect(self._set_clip)
        self.filled.toggled.connect(lambda v: self._set(filled=bool(v)))
        self.tissue_button.clicked.connect(self.tissue_requested)
        session.layers_changed.connect(self.rebuild)
        session.layer_changed.connect(self._layer_changed)
        self.rebuild()

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def rebuild(self) -> None:
        keep = self.current_name()
        self._syncing = True
        self.list.clear()
        for layer in reversed(self.session.layers):  # top first
            item = QListWidgetItem(f"{layer.name}  ({layer.kind})" + (f"  {layer.description}" if layer.description else ""))
            item.setData(Qt.ItemDataRole.UserRole, layer.name)
            if layer.description:
                item.setToolTip(f"{layer.name}: {layer.description}\nS = keep-only drop Φ(X) − Φ(X_S), "
                                f"N = complement drop Φ(X) − Φ(X_¬S), N∪ = drop with every set up to this one removed")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.settings.visible else Qt.CheckState.Unchecked)
            self.list.addItem(item)
            if layer.name == keep:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._syncing = False
        self._show_settings()

    def _layer_changed(self, name: str) -> None:
        self._syncing = True
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                visible = self.session.layer(name).settings.visible
                item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
        self._syncing = False
        self._show_settings()

    def _show_settings(self) -> None:
        name = self.current_name()
        enabled = name is not None
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
        if layer.values is not None:
            lo, hi = (s.vmin, s.vmax) if s.norm == "manual" else (float(layer.values.min()), float(layer.values.max()))
            self.vmin.setValue(lo)
            self.vmax.setValue(hi)
        self.opacity.setValue(round(s.opacity * 100))
        self.threshold.setValue(round(s.threshold * 100))
        self.smooth.setValue(s.smooth_sigma)
        self.clip.setChecked(s.clip_to_tissue)
        self.filled.setChecked(s.filled)
        scalar = layer.kind == "scalar"
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
        regions = [x for x in s.layers if x.kind == "regions" and x.geometry is not None and x.name != "tissue"]
        if layer.kind != "scalar" or not regions or s.grid is None or s.bag is None:
            self.annotation_metrics.setText("")
            return
        lines = [format_metrics(r.name, map_vs_annotation(layer.values, s.bag.coords, s.grid.patch_size, r.geometry,
                                                          masks=self._annotation_masks))
                 for r in regions]
        self.annotation_metrics.setText("\n".join(lines))

    def _set(self, **changes) -> None:
        name = self.current_name()
        if self._syncing or name is None:
            return
        self.session.update_layer(name, **changes)

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
