"""The compare window: 2–4 synchronised panes, a swipe curtain, an A − B map and agreement numbers.

Each pane shows one scalar map of the review session; panes share centre and zoom while "Lock
views" is on (they share one :class:`core.review.camera.Camera`: :class:`app.compare.sync.CameraLink`). "Swipe" puts pane B's map over pane A's left
of a draggable line in pane A. "A − B" computes the rank-normalised difference of the first two panes'
maps (:func:`core.review.difference.difference_layer`) and shows it in the last pane; it is kept
in this window only (:attr:`CompareView.local_layers`), never added to the session, so the main
window's layers are unchanged. ``F`` fits every pane. Agreement (top-k overlap, Jaccard, Spearman ρ; :mod:`core.review.agreement`) is listed for
every pair of panes at the chosen k.

Signals
-------
CompareView.agreement_updated(text: str)
"""

from __future__ import annotations

from itertools import combinations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.compare.pane import ComparePane
from app.compare.sync import CameraLink
from core.review.agreement import agreement
from core.review.difference import DIFF_NORMS, difference_layer
from core.review.layers import ScalarLayer

__all__ = ["CompareView"]

_TITLES = "ABCD"


class CompareView(QWidget):
    """See the module docstring. Reads and writes only the review session."""

    agreement_updated = Signal(str)

    def __init__(self, session, parent: QWidget | None = None, *, panes: int = 2, tile_workers: int = 2) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setWindowTitle("Evident — compare maps")
        self.session = session
        self.tile_workers = tile_workers
        self.local_layers: dict = {}  # name -> Layer: the A − B maps, shown in this window only
        self.panes: list[ComparePane] = []
        self.sync = CameraLink(parent=self)
        self.count = QSpinBox()
        self.count.setRange(2, 4)
        self.lock = QCheckBox("Lock views")
        self.lock.setChecked(True)
        self.swipe = QCheckBox("Swipe B over A")
        self.diff = QPushButton("A − B")
        self.diff_norm = QComboBox()
        self.diff_norm.addItems(list(DIFF_NORMS))
        self.k = QSpinBox()
        self.k.setRange(1, 1_000_000)
        self.k.setValue(32)
        self.agreement_text = QLabel("")
        self.agreement_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.agreement_text.setWordWrap(True)
        bar = QHBoxLayout()
        for w in (QLabel("Panes"), self.count, self.lock, self.swipe, self.diff, QLabel("normalise"), self.diff_norm,
                  QLabel("top-k"), self.k):
            bar.addWidget(w)
        bar.addStretch(1)
        self.grid = QGridLayout()
        self.grid.setSpacing(3)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addLayout(self.grid, 1)
        lay.addWidget(self.agreement_text)
        self.count.valueChanged.connect(self.set_pane_count)
        self.lock.toggled.connect(self.sync.set_locked)
        self.swipe.toggled.connect(self._swipe_toggled)
        self.diff.clicked.connect(lambda: self.add_difference(self.diff_norm.currentText()))
        self.k.valueChanged.connect(lambda _: self.update_agreement())
        self._links = [(session.files_changed, self._files_changed), (session.layers_changed, self._layers_changed),
                       (session.layer_changed, self._layer_changed)]
        for signal, slot in self._links:
            signal.connect(slot)
        self.set_pane_count(panes)
        self.count.setValue(panes)
        fit = QAction("Fit", self)
        fit.setShortcut(QKeySequence("F"))
        fit.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        fit.triggered.connect(self.fit)
        self.addAction(fit)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        self.resize(min(1400, screen.width()) if screen else 1400, min(800, screen.height()) if screen else 800)

    def layer(self, name: str):
        """A map by name: this window's A − B maps first, then the session's layers (``KeyError``)."""
        if name in self.local_layers:
            return self.local_layers[name]
        return self.session.layer(name)

    def fit(self) -> None:
        """Fit the slide in every pane (``F``)."""
        for pane in self.panes:
            pane.view.fit()

    # ---- panes -----------------------------------------------------------------------------
    def _scalar_names(self) -> list[str]:
        names = [x.name for x in self.session.layers if isinstance(x, ScalarLayer)]
        return names + [n for n in self.local_layers if n not in names]

    def set_pane_count(self, n: int) -> None:
        """Show ``n`` panes (2–4) in a 1×2 / 1×3 / 2×2 grid."""
        n = max(2, min(4, int(n)))
        while len(self.panes) > n:
            pane = self.panes.pop()
            self.sync.remove(pane.view)
            pane.shutdown()
            pane.setParent(None)
            pane.deleteLater()
        names = self._scalar_names()
        while len(self.panes) < n:
            i = len(self.panes)
            pane = ComparePane(self.session, _TITLES[i], self, tile_workers=self.tile_workers, lookup=self.layer)
            pane.set_slide(self.session.slide)
            pane.set_choices(names, names[i % len(names)] if names else None)
            pane.layer_chosen.connect(self._pane_changed)
            self.panes.append(pane)
            self.sync.add(pane.view)  # a new pane takes the shared camera's place (the first one gives it)
        cols = 2 if n == 4 else n
        for i, pane in enumerate(self.panes):
            self.grid.addWidget(pane, i // cols, i % cols)
        self.update_agreement()

    def _files_changed(self) -> None:
        self.local_layers.clear()  # differences of the previous slide's maps
        for pane in self.panes:
            pane.set_slide(self.session.slide)
        self._layers_changed()

    def _layers_changed(self) -> None:
        names = self._scalar_names()
        for pane in self.panes:
            pane.set_choices(names)
        self._swipe_toggled(self.swipe.isChecked())

    def _layer_changed(self, _name: str) -> None:
        self._redraw()

    def _redraw(self) -> None:
        for pane in self.panes:
            pane.redraw()
        self.update_agreement()

    def _pane_changed(self, _name: str) -> None:
        if self.swipe.isChecked():
            self._swipe_toggled(True)
        self.update_agreement()

    def _swipe_toggled(self, on: bool) -> None:
        a, b = self.panes[0], self.panes[1]
        target = b.layer_name if on and b.layer_name else None
        if target != a.swipe_layer or (on and a.swipe is None):
            a.set_swipe(target)
        else:
            a.redraw()
        self.update_agreement()

    # ---- difference and agreement -----------------------------------------------------------
    def add_difference(self, norm: str = "rank") -> str | None:
        """Compute the A − B map of the first two panes, keep it in this window
        (:attr:`local_layers`, not the session) and show it in the last pane (a third one is added)."""
        a, b = (self.panes[0].layer_name, self.panes[1].layer_name)
        if not a or not b or a == b:
            self.session.message.emit("warning", "choose two different maps in panes A and B")
            return None
        layer = difference_layer(self.layer(a), self.layer(b), norm)
        self.local_layers[layer.name] = layer
        if len(self.panes) < 3:
            self.count.setValue(3)
        self._layers_changed()
        self.panes[-1].set_layer(layer.name)
        return layer.name

    def agreements(self) -> list[tuple[str, str, object]]:
        """(map 1, map 2, :class:`core.review.agreement.Agreement`) for every pair of distinct pane maps."""
        out = []
        names = [p.layer_name for p in self.panes]
        for x, y in combinations(range(len(names)), 2):
            if names[x] and names[y] and names[x] != names[y]:
                try:
                    la, lb = self.layer(names[x]), self.layer(names[y])
                except KeyError:
                    continue
                out.append((f"{_TITLES[x]}: {names[x]}", f"{_TITLES[y]}: {names[y]}", agreement(la.values, lb.values, self.k.value())))
        return out

    def update_agreement(self) -> str:
        lines = [f"{a}  vs  {b}:  {r.describe()}" for a, b, r in self.agreements()]
        text = "\n".join(lines) if lines else "Choose different maps in the panes to see their agreement."
        self.agreement_text.setText(text)
        self.agreement_updated.emit(text)
        return text

    def closeEvent(self, ev):
        self.shutdown()
        super().closeEvent(ev)

    def shutdown(self) -> None:
        """Stop listening to the session and stop the panes' tile loaders."""
        for signal, slot in self._links:
            signal.disconnect(slot)
        self._links = []
        for pane in self.panes:
            pane.shutdown()
