"""The cohort browser: a sortable, filterable table of an audit's slides; open a slide from it.

The rows come from :func:`core.review.cohort_table.read_audit_folder` (Qt-free), or are computed
from a manifest + features folder + checkpoint by :func:`core.review.cohort_table.compute_cohort` on
the inference thread with progress and cancel; a
``QSortFilterProxyModel`` sorts (numbers numerically, NaN last) and filters (text, "failures only",
each failure flag). Double-clicking a row, or stepping to the next / previous failure, opens that
slide's files (slide, features, evidence, annotations and the checkpoint that audited it, as
:attr:`core.review.cohort_table.CohortRow.files`) through the review session (``session.open``),
which the main window follows.

Signals
-------
CohortBrowser.loaded(n_rows: int)
CohortBrowser.opened(slide_id: str)
CohortBrowser.progressed(done: int, total: int, slide_id: str)
"""

from __future__ import annotations

import math

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.panels.job_panel import JobPanel
from core.errors import EvidentError
from core.hashing import file_sha256
from core.review.cohort_table import (
    FLAGS,
    CohortTable,
    filter_rows,
    is_failure,
    model_mismatch,
    next_failure,
    read_audit_folder,
)

__all__ = ["CohortBrowser", "CohortFilter", "CohortModel"]

_RAW = Qt.ItemDataRole.UserRole
_ROOT = QModelIndex()
_LABELS = {"case_failure": "case failure", "artifact_evidence": "artifact", "artifact_evidence_search": "artifact (S_N)", "low_sufficiency": "low S",
           "low_necessity": "low N", "semantic_mismatch": "semantic", "severe": "severe"}


class CohortModel(QAbstractTableModel):
    """Rows of a :class:`CohortTable`; ``UserRole`` gives raw values for sorting."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.cohort: CohortTable | None = None
        self.columns: tuple[str, ...] = ()

    def set_cohort(self, cohort: CohortTable | None) -> None:
        self.beginResetModel()
        self.cohort = cohort
        self.columns = cohort.columns if cohort is not None else ()
        self.endResetModel()

    def rowCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() or self.cohort is None else len(self.cohort.rows)

    def columnCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            name = self.columns[section]
            return _LABELS.get(name, name.replace("_", " "))
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.cohort is None:
            return None
        row = self.cohort.rows[index.row()]
        col = self.columns[index.column()]
        v = row.value(col)
        if role == _RAW:
            return v
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(v, bool):
                return "✔" if v else ""
            if isinstance(v, float):
                return "" if math.isnan(v) else f"{v:.3f}"
            return v
        if role == Qt.ItemDataRole.BackgroundRole and is_failure(row):
            return QColor(255, 205, 205) if row.flags.get("severe") else QColor(255, 236, 220)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(v, (bool, float)):
            return int(Qt.AlignmentFlag.AlignCenter)
        return None


class CohortFilter(QSortFilterProxyModel):
    """Filter by text / failures only / required flags; sort numbers numerically with NaN last."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.text, self.failures_only, self.required = "", False, ()
        self.setSortRole(_RAW)

    def set_filter(self, text: str | None = None, failures_only: bool | None = None, flags: tuple[str, ...] | None = None) -> None:
        self.beginFilterChange()
        self.text = self.text if text is None else text
        self.failures_only = self.failures_only if failures_only is None else failures_only
        self.required = self.required if flags is None else tuple(flags)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row, source_parent) -> bool:
        cohort = self.sourceModel().cohort
        return bool(filter_rows((cohort.rows[source_row],), self.text, failures_only=self.failures_only, flags=self.required))

    def lessThan(self, left, right) -> bool:
        a, b = left.data(_RAW), right.data(_RAW)
        nan_a = isinstance(a, float) and math.isnan(a)
        nan_b = isinstance(b, float) and math.isnan(b)
        if nan_a or nan_b:  # NaN last in either order
            return (not nan_a) if self.sortOrder() == Qt.SortOrder.AscendingOrder else nan_a and not nan_b
        return a < b


class CohortBrowser(JobPanel):
    """See the module docstring."""

    loaded = Signal(int)
    opened = Signal(str)
    progressed = Signal(int, int, str)

    def __init__(self, session, parent: QWidget | None = None, *, thread=None) -> None:
        super().__init__(session, parent, thread=thread)
        self._job: int | None = None
        self.model = CohortModel(self)
        self.proxy = CohortFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # file order until a click
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.doubleClicked.connect(lambda idx: self.open_row(idx.row()))
        self.load_button = QPushButton("Load audit folder…")
        self.compute_button = QPushButton("Compute from manifest…")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.hide()
        self.cancel_button.hide()
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter slide / label / prediction")
        self.failures = QCheckBox("Failures only")
        self.flag_boxes = {f: QCheckBox(_LABELS[f]) for f in FLAGS}
        self.prev_button, self.next_button = QPushButton("◀ failure"), QPushButton("failure ▶")
        self.status = QLabel("No cohort loaded. Load the output folder of `evident audit`.")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        for w in (self.load_button, self.compute_button, self.progress, self.cancel_button, self.search, self.failures,
                  self.prev_button, self.next_button):
            top.addWidget(w)
        flags = QHBoxLayout()
        flags.addWidget(QLabel("Require:"))
        for box in self.flag_boxes.values():
            flags.addWidget(box)
        flags.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(flags)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        self.load_button.clicked.connect(self._load_dialog)
        self.compute_button.clicked.connect(self._compute_dialog)
        self.cancel_button.clicked.connect(lambda: self._job is not None and self.thread.cancel(self._job))
        self.progressed.connect(self._progress)
        self.thread.finished_job.connect(self._computed)
        self.thread.failed_job.connect(self._compute_failed)
        self.thread.cancelled_job.connect(self._compute_cancelled)
        self.search.textChanged.connect(lambda t: self.proxy.set_filter(text=t))
        self.failures.toggled.connect(lambda on: self.proxy.set_filter(failures_only=on))
        for box in self.flag_boxes.values():
            box.toggled.connect(lambda _on: self.proxy.set_filter(flags=self.required_flags()))
        self.prev_button.clicked.connect(lambda: self.step_failure(-1))
        self.next_button.clicked.connect(lambda: self.step_failure(1))

    def required_flags(self) -> tuple[str, ...]:
        return tuple(f for f, box in self.flag_boxes.items() if box.isChecked())

    def _load_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open an `evident audit` output folder")
        if not folder:
            return
        cohort = self.load(folder)
        if cohort is not None and cohort.rows and not any(r.slide_path or r.features_path for r in cohort.rows):
            manifest, _ = QFileDialog.getOpenFileName(self, "The audit names no slide files: choose its manifest",
                                                      folder, "Manifest (*.csv)")
            if manifest:
                self.load(folder, manifest=manifest)

    def _compute_dialog(self) -> None:
        manifest, _ = QFileDialog.getOpenFileName(self, "Cohort manifest", "", "Manifest (*.csv)")
        if not manifest:
            return
        features = QFileDialog.getExistingDirectory(self, "Folder of feature bags")
        ckpt = self.session.files.checkpoint if self.session.files is not None else None
        if ckpt is None:
            ckpt, _ = QFileDialog.getOpenFileName(self, "Model checkpoint", "", "Checkpoint (*.pt *.pth *.ckpt)")
        if features and ckpt:
            self.compute(manifest, features, ckpt)

    def compute(self, manifest, features_dir, checkpoint) -> int | None:
        """Compute the table on the inference thread (progress in the bar, Cancel stops it)."""
        from core.review.cohort_table import compute_cohort

        if self._job is not None:
            return None
        emit = self.progressed.emit

        def job(cancel):
            return compute_cohort(manifest, features_dir, checkpoint, cancel=cancel,
                                  progress=lambda i, n, sid: emit(i, n, sid))

        self._job = self.thread.submit(job)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.status.setText(f"computing the cohort from {manifest} …")
        return self._job

    def _progress(self, done: int, total: int, sid: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"computing: {done}/{total} slides ({sid})")

    def _end_job(self, job_id: int) -> bool:
        if job_id != self._job:
            return False
        self._job = None
        self.progress.hide()
        self.cancel_button.hide()
        return True

    def _computed(self, job_id: int, cohort) -> None:
        if self._end_job(job_id):
            self.show_cohort(cohort)

    def _compute_failed(self, job_id: int, text: str) -> None:
        if self._end_job(job_id):
            self.status.setText(f"⚠ {text}")
            self.session.message.emit("error", text)

    def _compute_cancelled(self, job_id: int) -> None:
        if self._end_job(job_id):
            self.status.setText("computing the cohort was cancelled")

    def load(self, folder, *, manifest=None, features_dir=None, evidence_dir=None) -> CohortTable | None:
        """Load an audit folder (with the manifest / features / evidence folders that locate each
        slide's files, when the audit does not record them); problems go to the status line and the
        session's messages."""
        try:
            cohort = read_audit_folder(folder, manifest=manifest, features_dir=features_dir, evidence_dir=evidence_dir)
        except EvidentError as exc:
            self.status.setText(f"⚠ {exc}")
            self.session.message.emit("error", str(exc))
            return None
        return self.show_cohort(cohort)

    def show_cohort(self, cohort: CohortTable) -> CohortTable:
        """Show a loaded or computed cohort (status line: counts, model mismatch, missing slides)."""
        self.model.set_cohort(cohort)
        self.table.resizeColumnsToContents()
        notes = [f"{len(cohort.rows)} slides from {cohort.source}"]
        nfail = sum(is_failure(r) for r in cohort.rows)
        notes[0] += f", {nfail} with failure flags"
        ckpt = self.session.files.checkpoint if self.session.files is not None else None
        mismatch = model_mismatch(cohort, digest=file_sha256(ckpt)) if ckpt is not None and ckpt.exists() else None
        if mismatch:
            notes.append("⚠ " + mismatch)
            self.session.message.emit("warning", mismatch)
        if cohort.missing:
            notes.append(f"⚠ {len(cohort.missing)} slide(s) with missing files: "
                         + "; ".join(f"{sid} ({why})" for sid, why in cohort.missing))
        self.status.setText("\n".join(notes))
        self.loaded.emit(len(cohort.rows))
        return cohort

    # ---- opening and stepping -------------------------------------------------------------
    def _source_row(self, proxy_row: int):
        return self.model.cohort.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]

    def open_row(self, proxy_row: int) -> bool:
        """Open the slide of a (visible) table row through the session; False when it cannot."""
        row = self._source_row(proxy_row)
        paths = row.files  # slide, features, evidence, annotations and the model that audited it
        if not paths:
            self.session.message.emit("error", f"{row.slide_id}: the audit names no file of this slide that exists")
            return False
        self.table.selectRow(proxy_row)
        self.session.open(paths)
        self.opened.emit(row.slide_id)
        return True

    def step_failure(self, step: int = 1) -> int | None:
        """Select and open the next (``step=1``) or previous (``-1``) failure among the visible rows."""
        if self.model.cohort is None:
            return None
        order = [self.proxy.mapToSource(self.proxy.index(i, 0)).row() for i in range(self.proxy.rowCount())]
        sel = self.table.selectionModel().selectedRows()
        pos = next_failure(order, self.model.cohort.rows, sel[0].row() if sel else None, step) if order else None
        if pos is None:
            self.session.message.emit("info", "no failures among the rows shown")
            return None
        self.table.selectRow(pos)
        self.open_row(pos)
        return pos

    def shutdown(self) -> None:
        if self._job is not None:
            self.thread.cancel(self._job)
        super().shutdown()
