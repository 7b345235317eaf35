"""Real-input helpers for the review-flow scenarios: clicks, file drops, a blank-view measure, and an
evidence file with GCE's ``recovered`` subset beside the ``attention_topk`` baseline."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def click(button) -> None:
    """A real left click on a button."""
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def drop(window, paths) -> QDropEvent:
    """Drop ``paths`` on the window as a file manager does: a drag-enter then a drop event, each
    through Qt's event system (the window must accept the drag for the drop to count)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos, buttons, mods = QPointF(60, 60), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the window refused the drag"
    ev = QDropEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(window, ev)
    return ev


def painted_spread(widget) -> float:
    """Standard deviation of the grabbed pixels' grey values: ~0 for a blank widget, > 10 for a slide."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width()]
    return float(a.std())


def write_gce_evidence(path, coords: np.ndarray, dark: np.ndarray) -> dict[str, np.ndarray]:
    """An evidence file with attention, gates, ``attention_topk`` (first in HDF5 order) and a
    different ``recovered`` subset; returns the two subsets."""
    from core.evidence.evidence_file import Evidence, Subset, write_evidence

    n = coords.shape[0]
    att = np.exp(4 * dark - (4 * dark).max())
    att /= att.sum()
    k = max(4, n // 20)
    topk = np.sort(np.argsort(-att)[:k]).astype(np.int64)
    rest = np.setdiff1d(np.arange(n), topk)
    recovered = np.sort(rest[np.argsort(-dark[rest])[:k]]).astype(np.int64)  # dark patches attention missed
    write_evidence(path, Evidence(
        slide_id=path.name.split(".")[0], coords=coords, classes=("benign", "tumour"), predicted_class=1,
        scores={"attention": att}, gates=1.0 / (1.0 + np.exp(-(dark - dark.mean()) * 10)),
        subsets={"attention_topk": Subset(topk, "budget"), "recovered": Subset(recovered, "coverage reached")},
        model="scenario"))
    return {"attention_topk": topk, "recovered": recovered}
