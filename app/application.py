"""Start the desktop viewer: ``run(files)`` creates the QApplication and the main window."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["run"]

_STYLE = Path(__file__).resolve().parents[1] / "resources" / "style" / "evident.qss"


def run(files: list[str]) -> int:
    """Open the viewer on ``files`` (slides, feature/evidence/annotation files, checkpoints or folders).

    Returns the application's exit status.
    """
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Evident")
    app.setApplicationName("Evident")
    if _STYLE.is_file():
        app.setStyleSheet(_STYLE.read_text(encoding="utf-8"))
    window = MainWindow()
    window.show()
    if files:
        window.open_paths(files)
    return int(app.exec())
