"""The interventions dock: select patches, keep-only / remove, re-predict live, history with undo.

Selection tools write into the session's selection: click (toggle a patch), box (press, drag and
release in the view draws a rubber band) and polygon (clicks closed by "Finish polygon"), resolved
with shapely, top-k of a map, the GCE
subset, an annotation region, and "everything except" (invert). The slide's left clicks have one
owner: choosing click, box or polygon here emits ``tool_chosen`` (the annotation tools let go), and
an annotation tool chosen sets this box to "off" (:meth:`InterventionsPanel.set_off`; wired in
app/annotate/controller.py, docs/annotate.md "Who gets a click"). Keep-only and Remove run on the
single :class:`app.jobs.InferenceThread` it is given (the window's, shared with the other docks; the
predictor, a :class:`core.review.intervene.PredictorCache`, is only touched there); the result (plain data) is
recorded in the session (history, new attention layer) and drawn as a before/after bar chart with
Φ and S/N numbers. A job running longer than 0.5 s shows a busy bar and a Cancel button.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.jobs import InferenceThread
from core.review.intervene import InterventionRequest, Predictor, PredictorCache, load_predictor
from core.review.layers import RegionLayer, ScalarLayer, gce_subset_layer, scalar_layer
from core.review.session import InterventionRecord, ReviewSession

__all__ = ["InterventionsPanel"]

TOOLS = ("click", "box", "polygon")
#: the tool box's first entry: no selection tool, the slide's clicks go to the annotation tool
OFF = "off (annotating)"
HINTS = {"click": "Interventions click: a click on a patch selects or deselects it "
                  "(M or another annotation tool gives the clicks back to annotating)",
         "polygon": "Interventions polygon: click the corners, then Finish polygon "
                    "(M or another annotation tool gives the clicks back to annotating)"}


class InterventionsPanel(QWidget):
    """See the module docstring. Signals: ``result_shown(object)`` after a result is drawn."""

    result_shown = Signal(object)
    tool_chosen = Signal(str)  # a selection tool was chosen: it owns the slide's left clicks now

    def __init__(self, session: ReviewSession, view, thread: InferenceThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.view, self.thread = session, view, thread
        self.predictors = PredictorCache()  # used by jobs on the inference thread only
        self.model = None  # a model object handed in directly (tests, notebooks); else the checkpoint
        self._predictor_key = None
        self._points: list[tuple[float, float]] = []
        self._job: int | None = None
        self.tool = QComboBox()
        self.tool.addItems([OFF, *TOOLS])
        self.tool.setToolTip("The tool that selects patches on the slide; while one is chosen the annotation "
                             "tools are off (docs/annotate.md, 'Who gets a click')")
        self.finish_polygon = QPushButton("Finish polygon")
        self.map_box, self.k = QComboBox(), QSpinBox()
        self.k.setRange(1, 100000)
        self.k.setValue(16)
        self.topk, self.gce = QPushButton("Top-k"), QPushButton("GCE subset")
        self.region = QPushButton("Annotation region")
        self.invert, self.clear = QPushButton("Everything except"), QPushButton("Clear")
        self.keep, self.remove, self.undo = QPushButton("Keep only"), QPushButton("Remove"), QPushButton("Undo")
        self.cancel = QPushButton("Cancel")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.selection_label, self.result_label = QLabel("0 patches selected"), QLabel("No intervention yet")
        self.result_label.setWordWrap(True)
        self.chart = pg.PlotWidget(background="w")
        self.chart.setMinimumHeight(140)
        self.chart.setMouseEnabled(False, False)
        self.history = QListWidget()
        grid = QGridLayout()
        grid.addWidget(QLabel("Tool"), 0, 0)
        grid.addWidget(self.tool, 0, 1)
        grid.addWidget(self.finish_polygon, 0, 2)
        grid.addWidget(self.map_box, 1, 0)
        grid.addWidget(self.k, 1, 1)
        grid.addWidget(self.topk, 1, 2)
        grid.addWidget(self.gce, 2, 0)
        grid.addWidget(self.region, 2, 1)
        grid.addWidget(self.invert, 2, 2)
        grid.addWidget(self.clear, 3, 2)
        grid.addWidget(self.selection_label, 3, 0, 1, 2)
        actions = QHBoxLayout()
        for b in (self.keep, self.remove, self.undo):
            actions.addWidget(b)
        busy = QHBoxLayout()
        busy.addWidget(self.busy, 1)
        busy.addWidget(self.cancel)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addLayout(actions)
        lay.addLayout(busy)
        lay.addWidget(self.result_label)
        lay.addWidget(self.chart, 1)
        lay.addWidget(QLabel("History"))
        lay.addWidget(self.history)
        self.busy.hide()
        self.cancel.hide()
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(500)
        self._busy_timer.timeout.connect(self._show_busy)
        view.clicked.connect(self._clicked)
        view.box_drawn.connect(self._box_drawn)
        self.tool.currentTextChanged.connect(self._tool_changed)
        self.finish_polygon.clicked.connect(self._finish_polygon)
        self.topk.clicked.connect(lambda: self.select_top_k(self.map_box.currentText(), self.k.value()))
        self.gce.clicked.connect(self.select_gce_subset)
        self.region.clicked.connect(self.select_region)
        self.invert.clicked.connect(self.select_everything_except)
        self.clear.clicked.connect(lambda: session.set_selection(np.zeros(0, np.int64)))
        self.keep.clicked.connect(lambda: self.intervene("keep"))
        self.remove.clicked.connect(lambda: self.intervene("remove"))
        self.undo.clicked.connect(session.undo)
        self.cancel.clicked.connect(lambda: self.thread.cancel(self._job))
        self.thread.finished_job.connect(self._finished)
        self.thread.failed_job.connect(self._failed)
        self.thread.cancelled_job.connect(self._cancelled)
        session.layers_changed.connect(self._layers_changed)
        session.selection_changed.connect(self._selection_changed)
        session.history_changed.connect(self._history_changed)
        session.files_changed.connect(self._files_changed)
        self._files_changed()

    # ---- selection tools -------------------------------------------------------------------
    def _grid(self):
        return self.session.grid

    def _tool_changed(self, tool: str) -> None:
        self._points = []
        self.view.set_box_mode(tool == "box")
        if tool in TOOLS:
            self.tool_chosen.emit(tool)
            if tool in HINTS:
                self.view.message.emit(HINTS[tool])

    def set_off(self) -> None:
        """No selection tool (an annotation tool was chosen and owns the slide's clicks)."""
        self.tool.setCurrentText(OFF)

    def _clicked(self, x: float, y: float, _mods: int) -> None:
        if self._grid() is None:
            return
        tool = self.tool.currentText()
        if tool == "click":
            i = self._grid().patch_at(x, y)
            if i >= 0:
                sel = set(self.session.selection.tolist()) ^ {i}
                self.session.set_selection(np.array(sorted(sel), np.int64))
        elif tool == "polygon":
            self._points.append((x, y))

    def _box_drawn(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self._grid() is not None and self.tool.currentText() == "box":
            self.select_box(x0, y0, x1, y1)

    def _finish_polygon(self) -> None:
        pts, self._points = self._points, []
        if len(pts) >= 3:
            self.select_polygon(pts)

    def select_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Select the patches whose centre lies in the box (level-0 px, any corner order)."""
        import shapely

        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self.session.set_selection(self._grid().patches_in(box))

    def select_polygon(self, points: list[tuple[float, float]]) -> None:
        """Select the patches whose centre lies in the polygon / lasso (repaired if self-crossing)."""
        import shapely

        self.session.set_selection(self._grid().patches_in(shapely.make_valid(shapely.Polygon(points))))

    def select_top_k(self, layer_name: str, k: int) -> None:
        """Select the ``k`` highest-scoring patches of a scalar layer."""
        v = np.nan_to_num(self.session.layer(layer_name).values, nan=-np.inf)
        self.session.set_selection(np.argsort(-v, kind="stable")[:k])

    def select_gce_subset(self) -> None:
        """Select GCE's recovered subset (``subsets/recovered``; never a baseline such as
        ``attention_topk``: :func:`core.review.layers.gce_subset_layer`)."""
        layer = gce_subset_layer(self.session.layers)
        if layer is None:
            self.session.message.emit("warning", "no GCE subset (subsets/recovered) in the open evidence file")
            return
        self.session.set_selection(layer.indices)

    def select_region(self) -> None:
        """Select the patches whose centre lies in an annotation region: the region layer chosen in
        the Layers panel, else the region added last (a class drawn in the viewer, docs/annotate.md,
        comes after the loaded ones), the tissue only when there is no other region."""
        from core.review.tissue import TISSUE_LAYER

        regions = [x for x in self.session.layers if isinstance(x, RegionLayer) and x.geometry is not None]
        current = next((x for x in regions if x.name == self.session.current_layer), None)
        others = [x for x in regions if x.name != TISSUE_LAYER]
        layer = current or (others[-1] if others else regions[-1] if regions else None)
        if layer is None or self._grid() is None:
            self.session.message.emit("warning", "no annotation region open")
            return
        indices = self._grid().patches_in(layer.geometry)
        self.session.set_selection(indices)
        self.session.message.emit("info", f"{len(indices)} patches in '{layer.name}'")

    def select_everything_except(self) -> None:
        n = self.session.n_patches
        self.session.set_selection(np.setdiff1d(np.arange(n), self.session.selection))

    # ---- interventions ---------------------------------------------------------------------
    def intervene(self, action: str) -> int | None:
        """Submit keep-only / remove of the current selection to the inference thread; returns the job id."""
        s = self.session
        if s.bag is None or s.selection.size == 0:
            s.message.emit("warning", "select patches first")
            return None
        if self.model is None and (s.files is None or s.files.checkpoint is None):
            s.message.emit("warning", "open a model checkpoint to re-predict (drop it on the window)")
            return None
        request = InterventionRequest(action, s.selection.copy())
        bag, model, ckpt, classes = s.bag, self.model, s.files.checkpoint if s.files else None, s.classes
        key = (id(bag), id(model), ckpt)
        cache = self.predictors

        def build() -> Predictor:
            return (Predictor(model, bag.features, bag.coords, classes) if model is not None
                    else load_predictor(ckpt, bag))

        def job(cancel):  # runs on the inference thread, which owns the predictor
            return cache.get(key, build).run(request, cancel)

        self._job = self.thread.submit(job)
        self.keep.setEnabled(False)
        self.remove.setEnabled(False)
        self._busy_timer.start()
        return self._job

    def _show_busy(self) -> None:
        self.busy.show()
        self.cancel.show()

    def _done(self) -> None:
        self._job = None
        self._busy_timer.stop()
        self.busy.hide()
        self.cancel.hide()
        self.keep.setEnabled(True)
        self.remove.setEnabled(True)

    def _finished(self, job_id: int, result) -> None:
        if job_id != self._job:  # another client's job on the shared thread
            return
        self._done()
        n = len(self.session.history) + 1
        layers = []
        # the re-predicted maps are listed in Layers but not drawn: drawn, they would stack on the map
        # on screen and hide the tissue (one visible map by default, core.review.layer_roles)
        if result.attention_after is not None:
            layers.append(scalar_layer(f"attention after {result.action} #{n}", result.attention_after,
                                       units="attention weight", visible=False))
        if result.gates_after is not None:
            layers.append(scalar_layer(f"gate after {result.action} #{n}", result.gates_after, units="gate π",
                                       visible=False))
        layers = tuple(layers)
        record = InterventionRecord(result.action, result.indices, result.probs_before, result.probs_after,
                                    result.classes, result.phi_delta, tuple(x.name for x in layers),
                                    {"S": result.sufficiency_drop, "N": result.necessity_drop,
                                     "R": result.recoverability_gap}, result.phi_before, result.device,
                                    result.values)
        self.session.push_intervention(record, layers)
        self.show_result(record, result)

    def show_result(self, record: InterventionRecord, result=None) -> None:
        """Draw ``record`` (or "No intervention yet" for ``None``): before/after bars and its summary;
        ``result_shown`` is emitted with ``result`` when one is given (a fresh intervention)."""
        self.chart.clear()
        if record is None:
            self.result_label.setText("No intervention yet")
            return
        c = record.probs_before.size
        x = np.arange(c, dtype=float)
        before, after = ((record.probs_before, record.probs_after) if record.values is None
                         else (np.array(record.values[:1]), np.array(record.values[1:])))  # regression: values
        self.chart.addItem(pg.BarGraphItem(x=x - 0.2, height=before, width=0.4, brush=(150, 150, 150)))
        self.chart.addItem(pg.BarGraphItem(x=x + 0.2, height=after, width=0.4, brush=(40, 110, 200)))
        if record.values is None:
            self.chart.setYRange(0, 1)
        else:
            self.chart.enableAutoRange(axis="y")
        self.chart.getAxis("bottom").setTicks([[(i, record.classes[i]) for i in range(c)]])
        n = next((i for i, r in enumerate(self.session.history, 1) if r is record), None)
        self.result_label.setText((f"#{n} " if n else "") + record.summary())
        if result is not None:
            self.result_shown.emit(result)

    def _failed(self, job_id: int, text: str) -> None:
        if job_id != self._job:
            return
        self._done()
        self.session.message.emit("error", f"intervention failed: {text}")

    def _cancelled(self, job_id: int) -> None:
        if job_id != self._job:
            return
        self._done()
        self.session.message.emit("info", "intervention cancelled")

    # ---- session -> widgets ------------------------------------------------------------------
    def _layers_changed(self) -> None:
        current = self.map_box.currentText()
        self.map_box.clear()
        self.map_box.addItems([x.name for x in self.session.layers if isinstance(x, ScalarLayer)])
        if current:
            self.map_box.setCurrentText(current)

    def _selection_changed(self) -> None:
        self.selection_label.setText(f"{self.session.selection.size} patches selected")

    def _history_changed(self) -> None:
        self.history.clear()
        for i, r in enumerate(self.session.history, 1):
            self.history.addItem(f"#{i} {r.action} {r.indices.size} patches: ΔΦ {r.phi_delta:+.3f}")
        self.undo.setEnabled(bool(self.session.history))
        self.show_result(self.session.history[-1] if self.session.history else None)

    def _files_changed(self) -> None:
        self._layers_changed()
        self._history_changed()
        self._selection_changed()

    def shutdown(self) -> None:
        """Cancel this dock's job (window closing; the window stops the shared thread afterwards)."""
        self._busy_timer.stop()
        if self._job is not None:
            self.thread.cancel(self._job)
