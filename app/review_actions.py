"""The review workflows of the main window: menus, shortcuts and docks.

:func:`app.window_builder.build_main_window` creates the review panels (with the window's one
inference thread) and hands them, as :class:`ReviewPanels`, to :class:`ReviewFeatures`, which docks
them in the window and adds the Review menu; the builder keeps it as ``window.review``. It uses only
the window's public attributes (``session``, ``view``, ``docks``, ``add_dock``, ``menuBar()``,
``tabifyDockWidget``):

* docks: Evidence gallery, Exemplar anchors and Plots (right, below Layers, tabbed); Cohort (bottom,
  hidden until a cohort is loaded); each panel scrolls inside its dock (:mod:`app.dock_layout`); the
  builder then restores the layout saved at the last close;
* Review menu: Compare maps… (Ctrl+K), Next / previous failure (Ctrl+] / Ctrl+[), show the docks,
  Save / Open session (Ctrl+Shift+S / Ctrl+Shift+L), Export (selection, subset, thresholded map as
  GeoJSON; numbers CSV; figure PNG), Jobs… (train, recover, explain, audit in the background).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from app.dialogs.exports import ReviewExports
from app.panels.cohort_browser import CohortBrowser
from app.panels.exemplars import ExemplarsPanel
from app.panels.gallery import GalleryPanel
from app.panels.plots import PlotsPanel

__all__ = ["ReviewFeatures", "ReviewPanels"]


@dataclass(frozen=True)
class ReviewPanels:
    """The review docks' panels, built by :func:`app.window_builder.build_main_window` (the cohort
    browser, plots and exemplar panels with the window's one inference thread)."""

    gallery: GalleryPanel
    cohort: CohortBrowser
    plots: PlotsPanel
    exemplars: ExemplarsPanel


class ReviewFeatures(QObject):
    """The Review menu around ``panels`` docked in ``window`` (docks, actions, the compare window)."""

    def __init__(self, window, panels: ReviewPanels) -> None:
        super().__init__(window)
        self.window = window
        self.exports = ReviewExports(window)
        self.gallery, self.cohort = panels.gallery, panels.cohort
        self.plots, self.exemplars = panels.plots, panels.exemplars
        self.compare = None
        self.jobs = None
        self._down = False  # shutdown() ran
        self.gallery.navigate.connect(window.view.center_on)
        self.docks = {
            "gallery": self._dock("Evidence gallery", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea),
            "cohort": self._dock("Cohort", self.cohort, Qt.DockWidgetArea.BottomDockWidgetArea),
            "plots": self._dock("Plots", self.plots, Qt.DockWidgetArea.RightDockWidgetArea),
            "exemplars": self._dock("Exemplar anchors", self.exemplars, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        window.tabifyDockWidget(self.docks["gallery"], self.docks["exemplars"])
        window.tabifyDockWidget(self.docks["gallery"], self.docks["plots"])
        self.docks["gallery"].raise_()
        window.resizeDocks([window.docks["layers"], self.docks["gallery"]], [2, 1], Qt.Orientation.Vertical)
        self.docks["cohort"].hide()  # empty until a cohort is loaded (then shown: _cohort_loaded)
        self.cohort.loaded.connect(self._cohort_loaded)
        self.exports.before_restore = self.release_slide
        window.session.closing.connect(self.release_slide)  # only when a new review really replaces the slide
        self.actions: dict[str, QAction] = {}
        self._menus()
        window.installEventFilter(self)

    def layout_restored(self) -> None:
        """Hide the cohort dock again after the saved layout was restored: it stays empty (hidden)
        until a cohort is loaded (:meth:`_cohort_loaded` shows it)."""
        self.docks["cohort"].hide()

    def eventFilter(self, obj, ev):
        if obj is self.window and ev.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def _cohort_loaded(self, _rows: int) -> None:
        self.show_cohort_dock()

    def show_cohort_dock(self) -> None:
        """Show the Cohort dock; the first time, at a quarter of the window's height (the docks on
        the right keep room for their charts)."""
        dock = self.docks["cohort"]
        first = not dock.isVisible()
        dock.show()
        dock.raise_()
        if first:
            QTimer.singleShot(0, self._size_cohort_dock)

    def _size_cohort_dock(self) -> None:
        h = max(160, self.window.height() // 4)
        self.window.resizeDocks([self.docks["cohort"]], [h], Qt.Orientation.Vertical)

    def _dock(self, title: str, widget, area) -> QDockWidget:
        return self.window.add_dock(title, widget, area, name=f"review: {title}")

    def _act(self, menu, key: str, text: str, slot, shortcut=None) -> QAction:
        act = QAction(text, self.window)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda _=False: slot())
        menu.addAction(act)
        self.actions[key] = act
        return act

    def _menus(self) -> None:
        e = self.exports
        m = self.window.menuBar().addMenu("&Review")
        self._act(m, "compare", "&Compare maps…", self.open_compare, "Ctrl+K")
        self._act(m, "next_failure", "&Next failure", lambda: self.cohort.step_failure(1), "Ctrl+]")
        self._act(m, "prev_failure", "&Previous failure", lambda: self.cohort.step_failure(-1), "Ctrl+[")
        self._act(m, "load_cohort", "Load &cohort (audit folder)…", self._load_cohort)
        m.addSeparator()
        for dock in self.docks.values():
            m.addAction(dock.toggleViewAction())
        m.addSeparator()
        self._act(m, "save_session", "&Save session…", e.ask_save_session, "Ctrl+Shift+S")
        self._act(m, "open_session", "Open sess&ion…", e.ask_open_session, "Ctrl+Shift+L")
        x = m.addMenu("&Export")
        self._act(x, "export_selection", "Selection as GeoJSON…", e.ask_selection_geojson)
        self._act(x, "export_subset", "Subset layer as GeoJSON…", e.ask_subset_geojson)
        self._act(x, "export_threshold", "Thresholded map as GeoJSON…", e.ask_threshold_geojson)
        self._act(x, "export_csv", "Numbers as CSV…", e.ask_numbers_csv)
        self._act(x, "export_figure", "Figure (PNG)…", e.ask_figure, "Ctrl+Shift+E")
        m.addSeparator()
        self._act(m, "jobs", "&Jobs (train, recover, explain, audit)…", self.open_jobs, "Ctrl+J")

    def _load_cohort(self) -> None:
        self.show_cohort_dock()
        self.cohort._load_dialog()

    def open_compare(self):
        """Show the compare window (created on first use)."""
        from app.compare.compare_view import CompareView

        if self.compare is None:
            self.compare = CompareView(self.window.session, self.window, tile_workers=2)
            self.compare.destroyed.connect(lambda *_: setattr(self, "compare", None))
        self.compare.show()
        self.compare.raise_()
        return self.compare

    def open_jobs(self):
        """Show the background-jobs dialog (created on first use)."""
        from app.dialogs.jobs_dialog import JobsDialog

        if self.jobs is None:
            self.jobs = JobsDialog(self.window.session, self.window)
            self.jobs.audit_ready.connect(self._audit_ready)
        self.jobs.show()
        self.jobs.raise_()
        return self.jobs

    def release_slide(self) -> None:
        """Stop every reader of the open slide (tile loaders, thumbnail worker) before the session
        replaces it: the session closes the slide, and reads in flight on a closed OpenSlide handle
        abort the process."""
        self.window.view.set_slide(None)
        if self.compare is not None:
            for pane in self.compare.panes:
                pane.set_slide(None)
        self.gallery.release_slide()

    def _audit_ready(self, folder: str) -> None:
        self.show_cohort_dock()
        self.cohort.load(folder)

    def shutdown(self) -> None:
        """Stop worker threads and the compare window's tile loaders (window closing)."""
        if self._down:
            return
        self._down = True
        self.window.session.closing.disconnect(self.release_slide)  # its workers stop here
        self.gallery.shutdown()
        self.plots.shutdown()
        self.exemplars.shutdown()
        self.cohort.shutdown()
        if self.compare is not None:
            self.compare.shutdown()
        if self.jobs is not None:
            self.jobs.shutdown()

