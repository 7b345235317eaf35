"""The exemplar-anchors dock: name a concept from the selected patches, see anchor responses, save
the bank, re-run recovery with it.

Model work (the anchor space of the bag, recovery) runs on the single inference thread; results are
plain data (:mod:`core.review.exemplars`). The recovered subset is added to the session as the layer
``"subset: recovered (edited bank)"``.

Signals
-------
ExemplarsPanel.bank_changed(n_anchors: int)
ExemplarsPanel.recovered(indices: object)
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.panels.job_panel import JobPanel
from core.errors import EvidentError
from core.review.exemplars import (
    add_exemplar,
    anchor_space,
    recover_with_bank,
    responses,
    save_bank,
)
from core.review.layers import subset_layer

__all__ = ["RECOVERED", "ExemplarsPanel"]

RECOVERED = "subset: recovered (edited bank)"


class ExemplarsPanel(JobPanel):
    """See the module docstring. ``model`` may be set directly (else the session's checkpoint is loaded)."""

    bank_changed = Signal(int)
    recovered = Signal(object)

    def __init__(self, session, parent: QWidget | None = None, *, thread=None) -> None:
        super().__init__(session, parent, thread=thread)
        self.model = None
        self.space = None
        self.bank = None
        self._key = None
        self._jobs: dict[int, str] = {}
        self.name = QLineEdit()
        self.name.setPlaceholderText("concept name, e.g. necrosis")
        self.add = QPushButton("Add selected patches")
        self.save = QPushButton("Save bank…")
        self.rerun = QPushButton("Re-run recovery")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["anchor", "mean response of selection"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.note = QLabel("Select patches, name the concept, add it.")
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.name, 1)
        row.addWidget(self.add)
        row2 = QHBoxLayout()
        row2.addWidget(self.save)
        row2.addWidget(self.rerun)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addLayout(row2)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        self.add.clicked.connect(self.add_selection)
        self.save.clicked.connect(self._save_dialog)
        self.rerun.clicked.connect(self.rerun_recovery)
        self.thread.finished_job.connect(self._finished)
        self.thread.failed_job.connect(self._failed)
        self.link((session.selection_changed, self.show_responses), (session.files_changed, self._reset))

    def _reset(self) -> None:
        self.space, self.bank, self._key = None, None, None
        self.table.setRowCount(0)

    def _submit(self, what: str, fn) -> int | None:
        s = self.session
        if s.bag is None:
            self.note.setText("open a feature file first")
            return None
        bag, model, ckpt, prompts = s.bag, self.model, s.files.checkpoint if s.files else None, s.prompts
        key = (id(bag), id(model), ckpt)
        need_space = self.space is None or self._key != key
        self._key = key

        def job(cancel):
            space = None
            if need_space:
                m = model
                if m is None and ckpt is not None:
                    from core.review.model_cache import load_checkpoint_cached

                    m, _ = load_checkpoint_cached(ckpt)
                space = anchor_space(m, bag.features, bag.coords, prompts)
            return space, fn(space)

        jid = self.thread.submit(job)
        self._jobs[jid] = what
        return jid

    def add_selection(self) -> int | None:
        """Add the selection as the concept named in the box (computed on the inference thread)."""
        idx, name = self.session.selection.copy(), self.name.text()
        return self._submit("add", lambda space: (idx, name))

    def rerun_recovery(self) -> int | None:
        return self._submit("recover", lambda space: None)

    def _finished(self, job_id: int, result) -> None:
        what = self._jobs.pop(job_id, None)
        if what is None:
            return
        space, payload = result
        if space is not None:
            self.space = space
        try:
            if what == "add":
                idx, name = payload
                self.bank = add_exemplar(self.space, self.bank, idx, name)
                self.note.setText(f"bank: {', '.join(self.bank.prompts)}")
                self.bank_changed.emit(len(self.bank.prompts))
                self.show_responses()
            else:
                bank = self.bank or self.space.bank
                if bank is None:
                    raise EvidentError(None, "no anchors yet: add a concept or open a GCE checkpoint")
                rec, _w = recover_with_bank(self.space, bank)
                self.session.add_layer(subset_layer(RECOVERED, rec.indices, source="recovery with the edited bank",
                                                    color=(255, 80, 200)))
                self.note.setText(f"recovered {rec.indices.size} patches ({rec.stop_reason}); coverage "
                                  + ", ".join(f"{p} {c:.2f}" for p, c in zip(bank.prompts, rec.coverage)))
                self.recovered.emit(rec.indices)
        except EvidentError as exc:
            self.note.setText(str(exc))
            self.session.message.emit("error", str(exc))

    def _failed(self, job_id: int, text: str) -> None:
        if self._jobs.pop(job_id, None) is not None:
            self.note.setText(f"failed: {text}")

    def show_responses(self) -> None:
        """Fill the table with each anchor's mean response over the selected patches."""
        bank = self.bank or (self.space.bank if self.space is not None else None)
        sel = self.session.selection
        if bank is None or self.space is None or sel.size == 0:
            self.table.setRowCount(0)
            return
        r = responses(self.space, bank)[sel].mean(axis=0)
        self.table.setRowCount(len(bank.prompts))
        for i, (p, v) in enumerate(zip(bank.prompts, r)):
            self.table.setItem(i, 0, QTableWidgetItem(p))
            self.table.setItem(i, 1, QTableWidgetItem(f"{v:.3f}"))

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save anchor bank", "anchors.h5", "Anchor bank (*.h5 *.npz)")
        if path:
            self.save_to(path)

    def save_to(self, path) -> bool:
        if self.bank is None:
            self.session.message.emit("warning", "add a concept first")
            return False
        try:
            save_bank(path, self.bank)
        except EvidentError as exc:
            self.session.message.emit("error", str(exc))
            return False
        self.session.message.emit("info", f"anchor bank written to {path}")
        return True
