"""Ask the user where the files of a saved review session went.

The dialog lists each missing file (what it is and where it was) with a "Locate…" button; locating
one file also relocates its siblings found in the same new folder (core
:func:`core.review.session_file.remap` does the search), so moving a project folder needs one click.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

__all__ = ["LocateFilesDialog"]


class LocateFilesDialog(QDialog):
    """``mapping()`` gives ``{old path: new path}`` for the files the user located."""

    def __init__(self, missing: list[tuple[str, str]], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Locate moved files")
        self.missing = list(missing)
        self.located: dict[str, str] = {}
        self.labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        for i, (key, old) in enumerate(self.missing):
            grid.addWidget(QLabel(f"{key}:"), i, 0)
            label = QLabel(f"{old}  (not found)")
            self.labels[old] = label
            grid.addWidget(label, i, 1)
            button = QPushButton("Locate…")
            button.clicked.connect(lambda _=False, old=old: self._browse(old))
            grid.addWidget(button, i, 2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("These files of the session were moved or deleted. Locate them, or press OK to "
                             "open the session without them."))
        lay.addLayout(grid)
        lay.addWidget(buttons)

    def _browse(self, old: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Where is {Path(old).name}?", str(Path(old).parent))
        if path:
            self.set_location(old, path)

    def set_location(self, old: str, new: str) -> None:
        """Record that ``old`` is now at ``new``."""
        self.located[old] = str(new)
        self.labels[old].setText(f"{old}  →  {new}")

    def mapping(self) -> dict[str, str]:
        return dict(self.located)
