"""Add the review workflows to the main window: menus, shortcuts and docks, in one call.

``install_review_features(window)`` uses only the main window's public attributes (``session``,
``view``, ``menuBar()``, ``addDockWidget``, ``tabifyDockWidget``) and returns the
:class:`ReviewFeatures` it attached as ``window.review``:

* docks: Evidence gallery and Exemplar anchors (right, tabbed), Cohort and Plots (bottom, tabbed);
* Review menu: Compare maps… (Ctrl+K), Next / previous failure (Ctrl+] / Ctrl+[), show the docks,
  Save / Open session (Ctrl+Shift+S / Ctrl+Shift+L), Export (selection, subset, thresholded map as
  GeoJSON; numbers CSV; figure PNG), Jobs… (train, recover, explain, audit in the background).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from app.dialogs.exports import ReviewExports
from app.panels.cohort_browser import CohortBrowser
from app.panels.exemplars import ExemplarsPanel
from app.panels.gallery import GalleryPanel
from app.panels.plots import PlotsPanel

__all__ = ["ReviewFeatures", "install_review_features"]


class ReviewFeatures(QObject):
    """What :func:`install_review_features` added (docks, panels, actions, the compare window)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        s = window.session
        self.exports = ReviewExports(window)
        self.gallery = GalleryPanel(s)
        shared = getattr(getattr(window, "interventions", None), "thread", None)  # the one inference thread
        self.cohort = CohortBrowser(s, thread=shared)
        self.plots = PlotsPanel(s, thread=shared)
        self.exemplars = ExemplarsPanel(s, thread=shared)
        self.compare = None
        self.jobs = None
        self.gallery.navigate.connect(window.view.center_on)
        self.docks = {
            "gallery": self._dock("Evidence gallery", self.gallery, Qt.DockWidgetArea.RightDockWidgetArea),
            "cohort": self._dock("Cohort", self.cohort, Qt.DockWidgetArea.BottomDockWidgetArea),
            "plots": self._dock("Plots", self.plots, Qt.DockWidgetArea.BottomDockWidgetArea),
            "exemplars": self._dock("Exemplar anchors", self.exemplars, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        window.tabifyDockWidget(self.docks["gallery"], self.docks["exemplars"])
        self.docks["gallery"].raise_()
        window.tabifyDockWidget(self.docks["cohort"], self.docks["plots"])
        self.docks["cohort"].raise_()
        s.closing.connect(self.release_slide)  # only when a new review really replaces the slide
        self.actions: dict[str, QAction] = {}
        self._menus()
        window.installEventFilter(self)

    def eventFilter(self, obj, ev):
        if obj is self.window and ev.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"review: {title}")
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        return dock

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
        self.docks["cohort"].show()
        self.docks["cohort"].raise_()
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
        self.docks["cohort"].show()
        self.docks["cohort"].raise_()
        self.cohort.load(folder)

    def shutdown(self) -> None:
        """Stop worker threads and the compare window's tile loaders (window closing)."""
        if getattr(self, "_down", False):
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


def install_review_features(window) -> ReviewFeatures:
    """Attach the review workflows to ``window`` (see the module docstring); returns them."""
    features = ReviewFeatures(window)
    window.review = features
    return features
