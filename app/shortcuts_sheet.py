"""Help › Keyboard and Mouse: a sheet of every shortcut, read from the window's own actions.

The rows come from the menus (walked recursively) and the window's other actions at the moment the
sheet opens, so the sheet cannot drift from what the keys really do; the mouse gestures, which are
not actions, are listed from :data:`MOUSE`.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

__all__ = ["MOUSE", "ShortcutsSheet", "shortcut_rows"]

MOUSE: tuple[tuple[str, str, str], ...] = (
    ("View", "Zoom about the cursor", "Wheel"),
    ("View", "Pan", "Drag (Move tool) · Space + drag (any tool) · Middle-drag · Arrow keys"),
    ("View", "Context menu", "Right-click"),
    ("Annotate", "Select / add to selection", "Click / Shift+click (Move tool)"),
    ("Annotate", "Move a selected annotation", "Drag it (Move tool)"),
    ("Annotate", "Reshape", "Drag a vertex handle of the selected annotation (Move tool)"),
    ("Annotate", "Polygon", "Click the vertices, double-click or Enter to close; or drag freehand"),
    ("Annotate", "Brush: erase from the selected region", "Alt + drag"),
    ("Annotate", "Brush size", "[ and ] (the outline at the cursor shows it)"),
)


def _walk(menu, path: str, rows: list, seen: set) -> None:
    for act in menu.actions():
        if act.isSeparator():
            continue
        text = act.text().replace("&", "")
        if act.menu() is not None:
            _walk(act.menu(), f"{path} › {text}", rows, seen)
            continue
        keys = act.shortcuts()
        if keys and id(act) not in seen:
            seen.add(id(act))
            rows.append((path, text, " · ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)))


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(where, what, keys) for every action of ``window`` with a shortcut, then the mouse gestures."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()
    for top in window.menuBar().actions():
        if top.menu() is not None:
            _walk(top.menu(), top.text().replace("&", ""), rows, seen)
    for act in [*window.actions(), *getattr(window, "view", window).actions()]:
        if act.shortcuts() and id(act) not in seen:
            seen.add(id(act))
            rows.append(("Window", act.text().replace("&", ""),
                         " · ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts())))
    return rows + list(MOUSE)


class ShortcutsSheet(QDialog):
    """A table of :func:`shortcut_rows` (where, what, keys)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard and mouse")
        self.rows = shortcut_rows(window)
        table = QTableWidget(len(self.rows), 3, self)
        table.setHorizontalHeaderLabels(["Where", "What", "Keys / mouse"])
        for i, row in enumerate(self.rows):
            for j, text in enumerate(row):
                table.setItem(i, j, QTableWidgetItem(text))
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        self.resize(720, 520)
