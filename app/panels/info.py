"""The slide-info dock: slide metadata, the files of the review, and the message list."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget

from core.review.session import ReviewSession

__all__ = ["InfoPanel"]


class InfoPanel(QWidget):
    """Shows what is open and every message (warnings, errors, unmatched files)."""

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.summary = QLabel("Nothing open. Drop a slide, feature, evidence or annotation file, or a project folder.")
        self.summary.setWordWrap(True)
        self.setMaximumWidth(320)
        self.messages = QListWidget()
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(QLabel("Messages"))
        lay.addWidget(self.messages, 1)
        session.files_changed.connect(self.refresh)
        session.message.connect(lambda level, text: self.messages.addItem(f"{level}: {text}"))

    def refresh(self) -> None:
        s = self.session
        lines = []
        if s.files is not None:
            lines.append(f"<b>{s.files.stem}</b>")
        if s.slide is not None:
            w, h = s.slide.dimensions
            mpp = f"{s.slide.mpp:.3f} µm/px" if s.slide.mpp else "µm/px unknown"
            obj = f"{s.slide.objective_power:g}×" if s.slide.objective_power else "objective unknown"
            lines.append(f"{w} × {h} px, {s.slide.level_count} levels, {mpp}, {obj}, {s.slide.vendor or 'image'}")
        if s.bag is not None:
            lines.append(f"{s.bag.n_patches} patches × {s.bag.feature_dim} features, patch {s.grid.patch_size_level0_px} px")
        if s.files is not None:
            for key in ("slide", "features", "evidence", "annotations", "checkpoint"):
                v = getattr(s.files, key)
                if v is not None:
                    lines.append(f"{key}: {v.name}")
        self.summary.setText("<br>".join(lines))
        self.summary.setToolTip("\n".join(str(getattr(s.files, k)) for k in ("slide", "features", "evidence",
                                "annotations", "checkpoint") if s.files is not None and getattr(s.files, k)))
