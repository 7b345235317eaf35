"""The evidence gallery dock: top-k / bottom-k patch thumbnails of a map; click to navigate; export.

Thumbnails are read off the GUI thread (one worker; a new request cancels the previous one) with
:func:`core.review.gallery.read_thumbnails`; the plain arrays come back through a queued signal.
The contact sheet is composed Qt-free by :func:`core.review.gallery.write_contact_sheet`.

Signals
-------
GalleryPanel.navigate(x: float, y: float)
    Centre the slide view on level-0 ``(x, y)`` (the clicked patch's centre).
GalleryPanel.thumbnails_ready(n: int)
    ``n`` thumbnails are shown.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.viewer.hud import rgba_to_qimage
from core.errors import EvidentError
from core.review.gallery import gallery_items, read_thumbnails, write_contact_sheet
from core.review.layers import ScalarLayer

__all__ = ["GalleryPanel"]

_SIZE = 112


class GalleryPanel(QWidget):
    """See the module docstring."""

    navigate = Signal(float, float)
    thumbnails_ready = Signal(int)
    _arrived = Signal(int, object, object)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.items: list = []
        self.thumbs: list = []
        self._generation = 0
        self._cancel = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery")
        self.map_box = QComboBox()
        self.which = QComboBox()
        self.which.addItems(["top", "bottom"])
        self.k = QSpinBox()
        self.k.setRange(1, 200)
        self.k.setValue(16)
        self.export = QPushButton("Export sheet…")
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(_SIZE, _SIZE))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setSpacing(4)
        row = QHBoxLayout()
        for w in (self.map_box, self.which, self.k, self.export):
            row.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.list, 1)
        self._arrived.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.map_box.currentTextChanged.connect(lambda _t: self.refresh())
        self.which.currentTextChanged.connect(lambda _t: self.refresh())
        self.k.valueChanged.connect(lambda _v: self.refresh())
        self.list.itemClicked.connect(self._clicked)
        self.export.clicked.connect(self._export_dialog)
        self._links = [(session.layers_changed, self._layers_changed), (session.files_changed, self._layers_changed)]
        for signal, slot in self._links:
            signal.connect(slot)
        self._layers_changed()

    def _layers_changed(self) -> None:
        current = self.map_box.currentText()
        names = [x.name for x in self.session.layers if isinstance(x, ScalarLayer)]
        self.map_box.blockSignals(True)
        self.map_box.clear()
        self.map_box.addItems(names)
        if current in names:
            self.map_box.setCurrentText(current)
        self.map_box.blockSignals(False)
        self.refresh()

    def refresh(self) -> int:
        """Request the thumbnails of the current choice (off the GUI thread); returns the generation."""
        self._cancel.set()
        self._cancel = threading.Event()
        self._generation += 1
        self.list.clear()
        s, name = self.session, self.map_box.currentText()
        if s.slide is None or s.grid is None or not name:
            self.items, self.thumbs = [], []
            return self._generation
        layer = s.layer(name)
        items = gallery_items(layer.values, s.grid.coords, s.grid.patch_size_level0_px, self.k.value(), self.which.currentText())
        gen, cancel, reader = self._generation, self._cancel, s.slide

        def job():
            try:
                thumbs = read_thumbnails(reader, items, _SIZE, cancel)
            except EvidentError as exc:
                thumbs = exc
            if not cancel.is_set():
                self._arrived.emit(gen, items, thumbs)

        self._pool.submit(job)
        return gen

    def _show(self, gen: int, items: list, thumbs) -> None:
        if gen != self._generation:  # a newer request replaced this one
            return
        if isinstance(thumbs, EvidentError):
            self.session.message.emit("error", str(thumbs))
            return
        self.items, self.thumbs = items, thumbs
        self.list.clear()
        for it, t in zip(items, thumbs):
            w = QListWidgetItem(QIcon(QPixmap.fromImage(rgba_to_qimage(t))), f"#{it.rank}  {it.score:.3g}")
            w.setData(Qt.ItemDataRole.UserRole, it.index)
            w.setToolTip(f"patch {it.index} at ({it.rect[0]}, {it.rect[1]}): score {it.score:.6g}, rank {it.rank}")
            self.list.addItem(w)
        self.thumbnails_ready.emit(len(thumbs))

    def _clicked(self, w: QListWidgetItem) -> None:
        self.activate(self.list.row(w))

    def activate(self, row: int) -> None:
        """Navigate to gallery tile ``row`` (centre the view on its patch)."""
        self.navigate.emit(*self.items[row].centre)

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export contact sheet", "gallery.png", "PNG (*.png)")
        if path:
            self.export_sheet(path)

    def export_sheet(self, path) -> bool:
        """Write the shown thumbnails as a contact-sheet PNG; errors go to the session's messages."""
        title = f"{self.which.currentText()}-{len(self.items)} of {self.map_box.currentText()}"
        if self.session.files is not None:
            title = f"{self.session.files.stem}: {title}"
        try:
            write_contact_sheet(path, self.thumbs, self.items, title=title)
        except EvidentError as exc:
            self.session.message.emit("error", str(exc))
            return False
        self.session.message.emit("info", f"contact sheet written to {path}")
        return True

    def release_slide(self) -> None:
        """Cancel and wait for thumbnail reads in progress (before the session closes the slide)."""
        self._cancel.set()
        self._pool.submit(lambda: None).result()

    def shutdown(self) -> None:
        self._cancel.set()
        for signal, slot in self._links:
            signal.disconnect(slot)
        self._links = []
        self._pool.shutdown(wait=True)
