"""Background jobs from the GUI: train (with or without GCE), recover, explain, audit.

Each job is a subprocess running ``python -m core.cli <command> ...``: the same entry points as the
``evident`` command line, a log that is captured line by line, a percentage read from the progress
output (tqdm's ``NN%``), and a cancel that ends the process (terminate, then kill after 3 s).
When a job succeeds its results open: evidence (recover / explain) in the viewer through the
review session, an audit folder in the cohort browser (``audit_ready``), a trained model's folder
is named in the log.

Signals
-------
JobsDialog.job_finished(kind: str, exit_code: int, out_dir: str)
JobsDialog.audit_ready(out_dir: str)
JobsDialog.progress(percent: int)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

__all__ = ["KINDS", "JobsDialog", "build_command"]

KINDS = ("train", "recover", "explain", "audit")
_PCT = re.compile(r"(\d{1,3})%\|")


def build_command(kind: str, p: dict) -> list[str]:
    """The ``core.cli`` argument list of a job.

    ``p`` holds ``manifest``, ``features`` (a folder for train/audit; for recover/explain a folder
    whose ``*.h5`` are used, or one file), ``model``, ``host``, ``out``, ``gce`` (bool), ``anchors``.
    Raises ValueError naming the first missing field.
    """
    need = {"train": ("manifest", "host", "out"), "recover": ("model", "features", "out"),
            "explain": ("model", "features", "out"), "audit": ("manifest", "features", "model", "out")}[kind]
    for key in need:
        if not str(p.get(key) or "").strip():
            raise ValueError(f"{kind} needs {key}")
    if kind == "train":
        cmd = ["train", "--manifest", p["manifest"], "--host", p["host"], "--out", p["out"]]
        if p.get("features"):
            cmd += ["--features", p["features"]]
        if p.get("gce"):
            cmd += ["--gce"] + (["--anchors", p["anchors"]] if p.get("anchors") else [])
        return cmd
    if kind == "audit":
        return ["audit", "--manifest", p["manifest"], "--features", p["features"], "--model", p["model"], "--out", p["out"]]
    feats = Path(p["features"])
    files = sorted(str(f) for f in feats.glob("*.h5")) if feats.is_dir() else [str(feats)]
    return [kind, "--model", p["model"], "--features", *files, "--out", p["out"]]


class JobsDialog(QDialog):
    """One job at a time: choose, fill in, Run; watch the log and progress; Cancel."""

    job_finished = Signal(str, int, str)
    audit_ready = Signal(str)
    progress = Signal(int)

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Evident — jobs")
        self.session = session
        self.process: QProcess | None = None
        self.kind = ""
        self.out_dir = ""
        self.kind_box = QComboBox()
        self.kind_box.addItems(list(KINDS))
        self.fields = {k: QLineEdit() for k in ("manifest", "features", "model", "host", "out", "anchors")}
        self.fields["host"].setText("abmil")
        self.gce = QCheckBox("with GCE")
        form = QFormLayout()
        form.addRow("Job", self.kind_box)
        for k, w in self.fields.items():
            form.addRow(k, w)
        form.addRow("", self.gce)
        self.run_button, self.cancel_button = QPushButton("Run"), QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.bar, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.log, 1)
        self.run_button.clicked.connect(self.run_job)
        self.cancel_button.clicked.connect(self.cancel)
        self._kill = QTimer(self)
        self._kill.setSingleShot(True)
        self._kill.setInterval(3000)
        self._kill.timeout.connect(lambda: self.process is not None and self.process.kill())
        self.resize(640, 560)

    def params(self) -> dict:
        return {**{k: w.text().strip() for k, w in self.fields.items()}, "gce": self.gce.isChecked()}

    def run_job(self) -> bool:
        """Start the job described by the form; False (with a log line) when a field is missing."""
        kind = self.kind_box.currentText()
        try:
            args = build_command(kind, self.params())
        except ValueError as exc:
            self.log.appendPlainText(f"error: {exc}")
            return False
        return self.start([sys.executable, "-m", "core.cli", *args], kind, self.fields["out"].text().strip())

    def start(self, argv: list[str], kind: str = "command", out_dir: str = "") -> bool:
        """Run ``argv`` as the job (one at a time)."""
        if self.process is not None:
            self.log.appendPlainText("a job is already running; cancel it first")
            return False
        self.kind, self.out_dir = kind, out_dir
        self.log.appendPlainText("$ " + " ".join(argv))
        self.bar.setValue(0)
        proc = QProcess(self)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._read)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self.process = proc
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        proc.start(argv[0], argv[1:])
        return True

    def _read(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        for line in re.split(r"[\r\n]+", text):
            if not line.strip():
                continue
            m = _PCT.findall(line)
            if m:
                self.bar.setValue(int(m[-1]))
                self.progress.emit(int(m[-1]))
            else:
                self.log.appendPlainText(line)

    def _error(self, err) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self.log.appendPlainText("error: the job could not be started")
            self._done(-1)

    def _finished(self, code: int, _status) -> None:
        self._read()
        self._done(int(code))

    def _done(self, code: int) -> None:
        if self.process is None:
            return
        self._kill.stop()
        self.process = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.log.appendPlainText(f"[{self.kind} finished with exit code {code}]")
        if code == 0:
            self.bar.setValue(100)
            self._open_results()
        self.job_finished.emit(self.kind, code, self.out_dir)

    def _open_results(self) -> None:
        out = Path(self.out_dir) if self.out_dir else None
        if out is None or not out.exists():
            return
        if self.kind == "audit":
            self.audit_ready.emit(str(out))
        elif self.kind in ("recover", "explain"):
            feats = self.fields["features"].text().strip()
            self.session.open([p for p in (feats, str(out)) if p])
        elif self.kind == "train":
            self.log.appendPlainText(f"models written to {out}; drop a checkpoint on the viewer to use it")

    def cancel(self) -> None:
        """End the running job (terminate, then kill if it has not stopped within 3 s)."""
        if self.process is not None:
            self.log.appendPlainText("cancelling…")
            self.process.terminate()
            self._kill.start()

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(3000)
