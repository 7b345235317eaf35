"""The Annotations dock: the class for new shapes, the list (class, name, area, patches), the edits.

The list shows one row per annotation: class (with its colour), name (editable), area in µm² (mm²
above 0.1 mm²; px² when the slide has no µm/px) or the count of a point set, and the patches of the
open bag whose centre lies inside. Selecting rows selects the annotations in the view and back.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["AnnotationsPanel", "format_area"]


def format_area(area_um2: float | None, area_px: float) -> str:
    """``"1234 µm²"``, ``"0.52 mm²"``, or ``"…px²"`` without µm/px."""
    if area_um2 is None:
        return f"{area_px:,.0f} px²"
    return f"{area_um2 / 1e6:.3f} mm²" if area_um2 >= 1e5 else f"{area_um2:,.0f} µm²"


def _swatch(color) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(*color))
    return QIcon(pm)


class AnnotationsPanel(QWidget):
    """Signals: ``rows_selected(list[str])`` (uids), ``class_chosen(str | None)``, ``renamed(str, str)``,
    and one per button: ``set_class_clicked``, ``merge_clicked``, ``subtract_clicked``,
    ``delete_clicked``, ``undo_clicked``, ``redo_clicked``, ``save_clicked``, ``load_clicked``."""

    rows_selected = Signal(list)
    class_chosen = Signal(object)
    renamed = Signal(str, str)
    set_class_clicked = Signal()
    merge_clicked = Signal()
    subtract_clicked = Signal()
    delete_clicked = Signal()
    undo_clicked = Signal()
    redo_clicked = Signal()
    save_clicked = Signal()
    load_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class"))
        self.class_box = QComboBox()
        self.class_box.currentIndexChanged.connect(lambda _: self.class_chosen.emit(self.class_box.currentData()))
        row.addWidget(self.class_box, 1)
        layout.addLayout(row)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Class", "Name", "Area", "Patches"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(col, mode)
        self.table.itemSelectionChanged.connect(self._selection)
        self.table.itemChanged.connect(self._item_changed)
        layout.addWidget(self.table, 1)
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for i, (key, text, tip) in enumerate([
            ("set_class", "Set class", "give the selected annotations the class above"),
            ("merge", "Merge", "union of the selected regions"),
            ("subtract", "Subtract", "cut the other selected regions out of the first"),
            ("delete", "Delete", "delete the selected annotations (Del)"),
            ("undo", "Undo", "Ctrl+Z"), ("redo", "Redo", "Ctrl+Shift+Z"),
            ("save", "Save…", "save as QuPath GeoJSON"), ("load", "Load…", "GeoJSON or ASAP XML"),
        ]):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(getattr(self, f"{key}_clicked").emit)
            grid.addWidget(b, i // 4, i % 4)
            self.buttons[key] = b
        layout.addLayout(grid)
        self.summary = QLabel("")
        layout.addWidget(self.summary)
        self._uids: list[str] = []
        self._filling = False

    def set_classes(self, classes, current: str | None) -> None:
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("Unclassified", None)
        for c in classes:
            self.class_box.addItem(_swatch(c.color), c.name, c.name)
        index = self.class_box.findData(current)
        self.class_box.setCurrentIndex(max(index, 0))
        self.class_box.blockSignals(False)

    def current_class(self) -> str | None:
        return self.class_box.currentData()

    def fill(self, rows: list[tuple[str, str | None, tuple, str, str, str]], selected: list[str],
             can_undo: bool, can_redo: bool) -> None:
        """``rows``: (uid, class, colour, name, area text, patches text) per annotation."""
        self._filling = True
        try:
            self.table.setRowCount(len(rows))
            self._uids = [r[0] for r in rows]
            for i, (_uid, cls, color, name, area, patches) in enumerate(rows):
                cells = [QTableWidgetItem(_swatch(color), cls or "Unclassified"), QTableWidgetItem(name),
                         QTableWidgetItem(area), QTableWidgetItem(patches)]
                for j, cell in enumerate(cells):
                    if j != 1:
                        cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(i, j, cell)
            self.show_selected(selected)
        finally:
            self._filling = False
        self.buttons["undo"].setEnabled(can_undo)
        self.buttons["redo"].setEnabled(can_redo)
        regions = sum(1 for r in rows if not r[5].endswith("points"))
        self.summary.setText(f"{len(rows)} annotation{'s' if len(rows) != 1 else ''} "
                             f"({regions} region{'s' if regions != 1 else ''})")

    def show_selected(self, uids: list[str]) -> None:
        was, self._filling = self._filling, True
        try:
            self.table.clearSelection()
            mode = self.table.selectionMode()
            self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
            for i, u in enumerate(self._uids):
                if u in uids:
                    self.table.selectRow(i)
            self.table.setSelectionMode(mode)
        finally:
            self._filling = was

    def _selection(self) -> None:
        if not self._filling:
            rows = sorted({i.row() for i in self.table.selectedIndexes()})
            self.rows_selected.emit([self._uids[r] for r in rows if r < len(self._uids)])

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 1 and item.row() < len(self._uids):
            self.renamed.emit(self._uids[item.row()], item.text())
