"""The plots dock (pyqtgraph): dropping / insertion curves with AUPC, gate histogram with its
bimodality, coverage per anchor with the target line, class probabilities.

Histogram, coverage and probabilities come straight from the session (plain numpy). The curves
need the model: :meth:`PlotsPanel.compute_curves` submits a job to the single inference thread
(:class:`app.jobs.InferenceThread`, shared with the interventions dock) that builds an intervention
engine and runs :func:`core.diagnostics.curves.slide_curves` for every scalar map (xMIL protocol,
101 points, AUPC = mean). Every plot exports to PNG (``pyqtgraph.exporters.ImageExporter``) and
its data to CSV.

Signals
-------
PlotsPanel.curves_ready(result: dict)
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.panels.job_panel import JobPanel
from core.errors import EvidentError
from core.review.agreement import bimodality_coefficient
from core.review.layers import ScalarLayer

__all__ = ["PLOTS", "PlotsPanel"]

PLOTS = ("curves", "gates", "coverage", "probabilities")
_PENS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)]


class PlotsPanel(JobPanel):
    """See the module docstring. ``model`` may be set directly (else the session's checkpoint is loaded)."""

    curves_ready = Signal(object)

    def __init__(self, session, parent: QWidget | None = None, *, thread=None, coverage_target: float = 0.95) -> None:
        super().__init__(session, parent, thread=thread)
        self.model = None
        self.coverage_target = coverage_target
        self.data: dict[str, list[dict]] = {k: [] for k in PLOTS}
        self._job = None
        self.plots = {k: pg.PlotWidget(background="w") for k in PLOTS}
        titles = {"curves": "Patch dropping (solid) / insertion (dashed), MoRF", "gates": "Gate histogram",
                  "coverage": "Coverage per anchor", "probabilities": "Class probabilities"}
        grid = QGridLayout()
        for i, key in enumerate(PLOTS):
            p = self.plots[key]
            p.setTitle(titles[key], color="k", size="9pt")
            p.setMinimumHeight(170)
            box = QVBoxLayout()
            box.addWidget(p, 1)
            row = QHBoxLayout()
            png, csv = QPushButton("PNG…"), QPushButton("CSV…")
            png.clicked.connect(lambda _=False, k=key: self._ask_export(k, "png"))
            csv.clicked.connect(lambda _=False, k=key: self._ask_export(k, "csv"))
            row.addStretch(1)
            row.addWidget(png)
            row.addWidget(csv)
            box.addLayout(row)
            grid.addLayout(box, i // 2, i % 2)
        self.plots["curves"].addLegend(offset=(-5, 5))
        self.compute = QPushButton("Compute curves")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.compute)
        head.addWidget(self.note, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(grid, 1)
        self.compute.clicked.connect(self.compute_curves)
        self.thread.finished_job.connect(self._finished)
        self.thread.failed_job.connect(self._failed)
        self.link((session.files_changed, self.refresh), (session.history_changed, self.refresh))
        self.refresh()

    # ---- plots from the session ------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the histogram, coverage and probabilities from the session."""
        s = self.session
        for key in ("gates", "coverage", "probabilities"):
            self.plots[key].clear()
            self.data[key] = []
        if s.gates is not None:
            g = np.asarray(s.gates, dtype=np.float64)
            counts, edges = np.histogram(g[np.isfinite(g)], bins=20, range=(0.0, 1.0))
            self.plots["gates"].addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=(70, 130, 180)))
            bc = bimodality_coefficient(g)
            self.plots["gates"].setTitle(f"Gate histogram — Sarle's bimodality {bc:.2f} (uniform 0.56)", color="k", size="9pt")
            self.data["gates"] = [{"bin_lo": float(a), "bin_hi": float(b), "count": int(c)} for a, b, c in zip(edges[:-1], edges[1:], counts)]
            if s.responses is not None and s.responses.shape[1]:
                from core.evidence.coverage import coverage

                cov = coverage(np.clip(g, 0, 1), np.asarray(s.responses, dtype=np.float64))
                x = np.arange(cov.size)
                self.plots["coverage"].addItem(pg.BarGraphItem(x=x, height=cov, width=0.6, brush=(60, 160, 90)))
                self.plots["coverage"].addItem(pg.InfiniteLine(pos=self.coverage_target, angle=0,
                                                               pen=pg.mkPen((200, 0, 0), width=2, style=pg.QtCore.Qt.PenStyle.DashLine)))
                names = [s.prompts[i] if i < len(s.prompts) else f"anchor {i}" for i in range(cov.size)]
                self.plots["coverage"].getAxis("bottom").setTicks([[(i, n[:18]) for i, n in enumerate(names)]])
                self.plots["coverage"].setYRange(0, 1.05)
                self.data["coverage"] = [{"anchor": n, "coverage": float(c), "target": self.coverage_target} for n, c in zip(names, cov)]
        if s.history:
            h = s.history[-1]
            x = np.arange(len(h.classes), dtype=float)
            p = self.plots["probabilities"]
            p.addItem(pg.BarGraphItem(x=x - 0.2, height=h.probs_before, width=0.4, brush=(150, 150, 150)))
            p.addItem(pg.BarGraphItem(x=x + 0.2, height=h.probs_after, width=0.4, brush=(40, 110, 200)))
            p.getAxis("bottom").setTicks([[(i, c) for i, c in enumerate(h.classes)]])
            p.setYRange(0, 1)
            p.setTitle(f"Class probabilities before (grey) / after {h.action} (blue)", color="k", size="9pt")
            self.data["probabilities"] = [{"class": c, "before": float(a), "after": float(b)}
                                          for c, a, b in zip(h.classes, h.probs_before, h.probs_after)]

    # ---- curves on the inference thread ------------------------------------------------------------
    def compute_curves(self) -> int | None:
        """Submit the curves of every scalar map to the inference thread; returns the job id."""
        s = self.session
        if s.bag is None:
            self.note.setText("open a feature file first")
            return None
        if self.model is None and (s.files is None or s.files.checkpoint is None):
            self.note.setText("open a model checkpoint to compute curves")
            return None
        maps = {x.name: np.nan_to_num(np.asarray(x.values, dtype=np.float64), nan=-np.inf)
                for x in s.layers if isinstance(x, ScalarLayer) and x.values.shape[0] == s.bag.n_patches}
        rng = np.random.default_rng(42)
        maps["random"] = rng.standard_normal(s.bag.n_patches)
        bag, model, ckpt = s.bag, self.model, s.files.checkpoint if s.files else None

        def job(cancel):
            from core.diagnostics.curves import slide_curves
            from core.diagnostics.interventions import InterventionEngine

            m = model
            if m is None:
                from core.review.model_cache import load_checkpoint_cached

                m, _ = load_checkpoint_cached(ckpt)
            engine = InterventionEngine(m, bag.features, bag.coords)
            out = {}
            for name, v in maps.items():
                if cancel.is_set():
                    break
                out.update(slide_curves(engine, {name: v}))
            return out

        self.note.setText("computing curves on the inference thread…")
        self._job = self.thread.submit(job)
        return self._job

    def _finished(self, job_id: int, result) -> None:
        if job_id != self._job:
            return
        self._job = None
        p = self.plots["curves"]
        p.clear()
        rows = []
        for i, (name, c) in enumerate(result.items()):
            pen = _PENS[i % len(_PENS)]
            x = np.linspace(0, 100, c["drop"].size)
            p.plot(x, c["drop"], pen=pg.mkPen(pen, width=2), name=f"{name} (AUPC drop {c['aupc_drop']:.3f})")
            p.plot(x, c["insert"], pen=pg.mkPen(pen, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
            rows += [{"method": name, "percent": float(xx), "drop": float(d), "insert": float(n)}
                     for xx, d, n in zip(x, c["drop"], c["insert"])]
        p.setLabel("bottom", "% patches removed / inserted")
        p.setLabel("left", "p(predicted class)")
        self.data["curves"] = rows
        self.note.setText("  ".join(f"{k}: drop {v['aupc_drop']:.3f} / insert {v['aupc_insert']:.3f}" for k, v in result.items()))
        self.curves_ready.emit(result)

    def _failed(self, job_id: int, text: str) -> None:
        if job_id == self._job:
            self._job = None
            self.note.setText(f"curves failed: {text}")

    # ---- export ------------------------------------------------------------------------------------
    def _ask_export(self, key: str, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {key}", f"{key}.{kind}", f"{kind.upper()} (*.{kind})")
        if path:
            (self.export_png if kind == "png" else self.export_csv)(key, path)

    def export_png(self, key: str, path, width: int = 1200) -> bool:
        """Write plot ``key`` as PNG (atomically)."""
        from pyqtgraph.exporters import ImageExporter

        from core.atomic import atomic_path

        try:
            with atomic_path(path) as tmp:
                ex = ImageExporter(self.plots[key].plotItem)
                ex.parameters()["width"] = int(width)
                ex.export(str(tmp) + ".png")
                import os

                os.replace(str(tmp) + ".png", tmp)
        except (EvidentError, OSError) as exc:
            self.session.message.emit("error", str(exc))
            return False
        return True

    def export_csv(self, key: str, path) -> bool:
        """Write the data behind plot ``key`` as CSV."""
        from core.review.export import write_csv

        if not self.data[key]:
            self.session.message.emit("warning", f"the {key} plot is empty; nothing to export")
            return False
        try:
            write_csv(path, self.data[key])
        except EvidentError as exc:
            self.session.message.emit("error", str(exc))
            return False
        return True
