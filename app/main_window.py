"""The main window: slide view in the centre, docks for layers, interventions and slide info.

Composition only: the window connects the review session's signals to the view and the docks and
forwards user actions into the session. It is built, with everything it uses (view and camera,
panels, the one inference thread), by :func:`app.window_builder.build_main_window`; it finds no
collaborator by itself. Files open by drag-and-drop, File > Open / Open Folder,
recent files and command-line arguments; window geometry, the dock layout (versioned, see
:mod:`app.dock_layout`) and recent files persist in QSettings (organisation "Evident"). Every dock
scrolls its panel, and Layers / Interventions share one tabbed dock, so the default layout fits a
1280 x 720 screen (docs/viewer_layout.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from app.display_colour import DisplayColour
from app.dock_layout import clamp_to_screen, restore_geometry, restore_layout, save_layout, scrollable
from app.jobs import BackgroundCall, InferenceThread
from app.panels.info import InfoPanel
from app.panels.interventions import InterventionsPanel
from app.panels.layers import LayersPanel
from app.viewer.hud import Legend
from app.viewer.overlay_layer import OverlayStack
from app.viewer.slide_view import MAGNIFICATIONS, SlideView
from core.review.layers import ScalarLayer
from core.review.normalise import colormap_lut
from core.review.session import ReviewSession

__all__ = ["MainWindow", "MainPanels"]

_MAX_RECENT = 10


@dataclass(frozen=True)
class MainPanels:
    """The window's own docks: Layers and Interventions (tabbed, right), Slide info (left)."""

    layers: LayersPanel
    interventions: InterventionsPanel
    info: InfoPanel


class MainWindow(QMainWindow):
    """Evident's viewer window around one :class:`ReviewSession`.

    Built by :func:`app.window_builder.build_main_window` (use that): ``view`` follows its camera,
    ``panels`` are docked here, ``thread`` is the one inference thread, owned by the window from
    now on and stopped when it closes. ``review`` is the Review menu's
    :class:`app.review_actions.ReviewFeatures` when the builder added it, else ``None``.

    Signals: ``tissue_detected()`` after :meth:`detect_tissue`'s result reached the session.
    """

    tissue_detected = Signal()

    def __init__(self, session: ReviewSession, settings: QSettings, *, view: SlideView, panels: MainPanels,
                 thread: InferenceThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.thread = thread
        thread.setParent(self)
        self.review = None
        self.setWindowTitle("Evident")
        self.setAcceptDrops(True)
        self.view = view
        self.setCentralWidget(self.view)
        self.overlays = OverlayStack(self.view.view_box)
        self.legend = Legend(self.view.graphics)  # names and colours of the outlines shown
        self.layers_panel = panels.layers
        self.interventions = panels.interventions
        self.info_panel = panels.info
        right = self.add_dock("Layers", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        tools = self.add_dock("Interventions", self.interventions, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(right, tools)
        right.raise_()
        left = self.add_dock("Slide", self.info_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.docks = {"layers": right, "interventions": tools, "slide": left}
        self.setTabPosition(Qt.DockWidgetArea.AllDockWidgetAreas, QTabWidget.TabPosition.North)  # tabs above docks
        self.resizeDocks([left, right], [210, 380], Qt.Orientation.Horizontal)
        self.tissue_job: BackgroundCall | None = None
        self.annotator = None  # app.annotate.controller.Annotator, set by the window builder
        self.layers_panel.tissue_requested.connect(self.detect_tissue)
        self.status_text = QLabel("")
        self.cursor_text = QLabel("")
        self.cursor_text.setMinimumWidth(520)
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.cursor_text)
        self._build_menus()
        s = self.session
        s.closing.connect(lambda: self.view.set_slide(None))  # tile workers stop before the slide closes
        s.files_changed.connect(self._files_changed)
        s.layers_changed.connect(self._layers_changed)
        s.layer_changed.connect(self._layer_changed)
        s.current_layer_changed.connect(lambda _: self._update_colorbar())
        s.selection_changed.connect(lambda: self.overlays.set_selection(s.grid, s.selection))
        s.message.connect(lambda level, text: self.show_message(text))
        self.view.message.connect(self.show_message)
        self.view.cursor_moved.connect(self._cursor)
        restore_geometry(self, self.settings, (1400, 900))
        self._initial_size = self.size()  # clamped again at the first show unless the caller resized

    def add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str | None = None) -> QDockWidget:
        """Dock ``widget`` (scrolling inside) under ``title``; ``name`` (default ``title``) keys it in
        the saved layout."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name or title)
        dock.setWidget(scrollable(widget))
        self.addDockWidget(area, dock)
        return dock

    def restore_layout(self) -> bool:
        """Restore the dock layout saved at the last close (the builder calls it once every dock is in)."""
        return restore_layout(self, self.settings)

    # ---- menus ---------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&Open…", self._open_dialog, QKeySequence.StandardKey.Open)
        self._action(f, "Open &Folder…", self._open_folder_dialog, "Ctrl+Shift+O")
        self.recent_menu = f.addMenu("Open &Recent")
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        v = mb.addMenu("&View")
        self._action(v, "&Fit", self.view.fit, "F")
        self._action(v, "1:1", self.view.one_to_one, "1")
        self._action(v, "Zoom &In", lambda: self.view.zoom(1.5), "+")
        self._action(v, "Zoom &Out", lambda: self.view.zoom(1 / 1.5), "-")
        self._action(v, "Detect &Tissue", self.detect_tissue, "T")
        mags = v.addMenu("&Magnification")
        for m in MAGNIFICATIONS:
            self._action(mags, f"{m:g}×", lambda _=False, m=m: self.view.set_magnification(m))
        self.display_colour = DisplayColour(self.view, self.session, self.settings, v, self.show_message, self)
        self.display_colour.applied.connect(self.show_message)
        h = mb.addMenu("&Help")
        self._action(h, "&Keyboard and Mouse…", self.show_shortcuts, "F1")
        self._action(h, "&About", self._about)
        self._fill_recent()

    def show_shortcuts(self):
        """Help › Keyboard and Mouse: every shortcut of this window (app/shortcuts_sheet.py)."""
        from app.shortcuts_sheet import ShortcutsSheet

        sheet = ShortcutsSheet(self)
        sheet.show()
        self.shortcuts_sheet = sheet
        return sheet

    def _about(self) -> None:
        QMessageBox.about(self, "About Evident", "Evident: review the evidence behind multiple-instance-learning "
                          "predictions on whole-slide images.")

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, paths: list[str]) -> None:
        recent = [p for p in self.recent_files() if p not in paths]
        self.settings.setValue("recent", (paths + recent)[:_MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self._action(self.recent_menu, p, lambda _=False, p=p: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open slide, features, evidence, annotations or model")
        if files:
            self.open_paths(files)

    def _open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_paths([folder])

    # ---- opening -------------------------------------------------------------------------
    def open_paths(self, paths: list[str | Path]) -> None:
        """Open files / folders into the session (errors go to the status bar and message list).

        Audit folders (and a demo workspace's ``audit/``) go to the cohort browser when the review
        features are installed (:func:`core.review.opening.plan_open`)."""
        from core.review.opening import plan_open

        paths = [str(p) for p in paths]
        plan = plan_open(paths)
        cohort = self.review.cohort if self.review is not None else None
        audits = list(plan.audits) if cohort is not None else []
        files = list(plan.files) + ([] if cohort is not None else list(plan.audits))
        for folder in audits:
            cohort.load(folder)  # a loaded cohort shows its dock (ReviewFeatures.show_cohort_dock)
        result = self.session.open(files) if files else None
        if (result is not None and result.groups) or audits:
            self._remember(paths)
        if result is not None and not result.groups and not result.unmatched and not audits:
            self.show_message("nothing to open in " + ", ".join(paths))

    def dragEnterEvent(self, ev):  # noqa: N802 - Qt naming
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev):  # noqa: N802 - Qt naming
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_paths(paths)

    def show_message(self, text: str) -> None:
        self.status_text.setText(text)

    # ---- tissue ------------------------------------------------------------------------------
    def detect_tissue(self) -> None:
        """Detect the open slide's tissue off the GUI thread (``core.extract.tissue.detect_tissue``);
        the result becomes the ``"tissue"`` layer and the tissue fraction used by clipped maps."""
        reader = self.session.slide
        if reader is None:
            self.show_message("open a slide to detect its tissue")
            return
        if self.tissue_job is not None and self.tissue_job.is_running():
            return
        from core.extract.tissue import detect_tissue

        job = BackgroundCall(lambda: detect_tissue(reader), self)
        job.finished.connect(lambda tissue: self._tissue_ready(reader, tissue))
        job.failed.connect(lambda text: self.show_message(f"tissue detection failed: {text}"))
        self.tissue_job = job
        self.show_message("detecting tissue…")
        job.start()

    def _tissue_ready(self, reader, tissue) -> None:
        if reader is not self.session.slide:  # another slide was opened meanwhile
            return
        self.session.set_tissue(tissue)
        self.show_message(f"tissue: {100 * tissue.tissue_fraction:.1f}% of the slide")
        self.tissue_detected.emit()

    # ---- session -> view ---------------------------------------------------------------------
    def _files_changed(self) -> None:
        s = self.session
        if self.view.reader is not s.slide:
            self.view.set_slide(s.slide)
            self.display_colour.refresh()  # the colour choices, fitted to the new slide
            self.cursor_text.setText("")  # the readout described the previous slide's patch
        title = s.files.stem if s.files is not None else ""
        self.setWindowTitle(f"Evident — {title}" if title else "Evident")
        self.overlays.set_selection(s.grid, s.selection)

    def _layers_changed(self) -> None:
        self.overlays.tissue_fraction = self.session.tissue_fraction
        self.overlays.sync(self.session.layers, self.session.grid)
        self._update_colorbar()
        self._update_legend()

    def _layer_changed(self, name: str) -> None:
        names = [x.name for x in self.session.layers]
        self.overlays.tissue_fraction = self.session.tissue_fraction
        self.overlays.refresh(self.session.layer(name), names.index(name), self.session.grid)
        self._update_colorbar()
        self._update_legend()

    def _update_legend(self) -> None:
        shown = [(x.name, x.settings.color) for x in reversed(self.session.layers)
                 if not isinstance(x, ScalarLayer) and x.settings.visible]
        if shown != self.legend.entries or self.legend.isVisible() != bool(shown):
            self.legend.set_entries(shown)

    def _update_colorbar(self) -> None:
        """Show the map in focus (the selected layer when it is a visible map, else the top one)."""
        top = self.session.map_in_focus()
        if top is None:
            self.view.colorbar.set_layer(None)
            return
        s = top.settings
        ends = self.overlays.cache.ends(top, self.session.grid)  # cached with the normalisation
        lut, args = colormap_lut(s.colormap), (f"{top.name} — {top.units}", s.describe(), ends)
        cb = self.view.colorbar
        if cb.isVisible() and cb.lut is lut and (cb.title, cb.note, cb.ends) == args:
            return  # an opacity / threshold tick: nothing on the colorbar changes
        cb.set_layer(lut, *args)

    def _cursor(self, x: float, y: float) -> None:
        text = f"x {x:.0f}  y {y:.0f} px"
        slide = self.session.slide
        if slide is not None and slide.mpp:
            text += f"  ({x * slide.mpp:.1f}, {y * slide.mpp:.1f} µm)"
        d = self.session.describe_patch(x, y)
        if d is not None:
            parts = [f"patch {d.index}"]
            order = [lyr.name for lyr in reversed(self.session.layers) if lyr.settings.visible]
            names = sorted(d.layers, key=lambda n: order.index(n) if n in order else len(order))
            for name in names[:3]:
                v = d.layers[name]
                parts.append(f"{name} {v.score:.3g} (rank {v.rank}, {v.percentile:.0f}th pct)")
            if d.gate is not None:
                parts.append(f"gate {d.gate:.2f}")
            if d.anchor is not None:
                parts.append(f"anchor '{d.anchor.name}' {d.anchor.response:.2f}")
            text = " | ".join(parts) + "   " + text
        self.cursor_text.setText(text)

    def showEvent(self, ev):  # noqa: N802 - Qt naming
        super().showEvent(ev)
        if self._initial_size is not None:  # the frame (title bar) is known once shown
            if self.size() == self._initial_size:  # a size the caller chose (resize) is kept
                clamp_to_screen(self)
            self._initial_size = None

    def closeEvent(self, ev):  # noqa: N802 - Qt naming
        save_layout(self, self.settings)
        self.interventions.shutdown()
        self.thread.stop()  # after every panel using it has stopped submitting
        self.view.shutdown()
        if self.tissue_job is not None:
            self.tissue_job.wait()
        self.display_colour.shutdown()
        if self.annotator is not None:
            self.annotator.shutdown()
        self.session.close()
        super().closeEvent(ev)
