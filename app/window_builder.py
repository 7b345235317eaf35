"""The GUI's composition root: :func:`build_main_window` builds the whole viewer window in one place.

Everything the window needs is created here, once, and handed to whoever uses it (nothing finds its
collaborators through attributes of other objects):

* the ONE :class:`app.jobs.InferenceThread` (model work: interventions, curves, anchors, cohort
  numbers), given to the interventions dock, the plots, exemplar and cohort panels;
* the view's :class:`core.review.camera.Camera` (centre in level-0 px, zoom in screen px per level-0
  px; Qt-free), which the :class:`app.viewer.slide_view.SlideView` follows;
* the panels (layers, interventions, slide info; with ``review=True`` also the evidence gallery,
  cohort browser, plots and exemplar anchors), then :class:`app.main_window.MainWindow` around them
  and the Review menu (:class:`app.review_actions.ReviewFeatures`).

Who builds what, and where the inference thread and the camera live: docs/architecture.md
("GUI composition").
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget

from app.annotate.controller import Annotator
from app.jobs import InferenceThread
from app.main_window import MainPanels, MainWindow
from app.panels.info import InfoPanel
from app.panels.interventions import InterventionsPanel
from app.panels.layers import LayersPanel
from app.viewer.slide_view import SlideView
from core.review.camera import Camera
from core.review.session import ReviewSession

__all__ = ["build_main_window"]


def build_main_window(session: ReviewSession | None = None, settings: QSettings | None = None, *,
                      tile_workers: int | None = None, review: bool = True,
                      parent: QWidget | None = None) -> MainWindow:
    """The viewer window around ``session`` (a new empty one by default).

    ``settings``: where geometry, dock layout and recent files persist (default: the user's
    ``QSettings("Evident", "Evident")``). ``tile_workers``: tile-loading threads of the main view
    (default ``min(4, cpu_count)``). ``review``: add the Review menu and its docks (what
    ``evident view`` shows); ``False`` builds the bare window (layers, interventions, slide info),
    used by lightweight tests and benchmarks. The window owns the inference thread and stops it when
    it closes.
    """
    session = session or ReviewSession()
    settings = settings or QSettings("Evident", "Evident")
    thread = InferenceThread()
    view = SlideView(camera=Camera(), tile_workers=tile_workers or min(4, os.cpu_count() or 1))
    panels = MainPanels(layers=LayersPanel(session), interventions=InterventionsPanel(session, view, thread),
                        info=InfoPanel(session))
    window = MainWindow(session, settings, view=view, panels=panels, thread=thread, parent=parent)
    window.annotator = Annotator(window, autosave_dir=Path(settings.fileName()).parent / "annotations")
    if review:
        from app.panels.cohort_browser import CohortBrowser
        from app.panels.exemplars import ExemplarsPanel
        from app.panels.gallery import GalleryPanel
        from app.panels.plots import PlotsPanel
        from app.review_actions import ReviewFeatures, ReviewPanels

        docks = ReviewPanels(gallery=GalleryPanel(session), cohort=CohortBrowser(session, thread=thread),
                             plots=PlotsPanel(session, thread=thread), exemplars=ExemplarsPanel(session, thread=thread))
        window.review = ReviewFeatures(window, docks)
    bar = window.menuBar()  # Help stays the last menu, after those added above
    help_menu = next(a for a in bar.actions() if a.text() == "&Help")
    bar.removeAction(help_menu)
    bar.addAction(help_menu)
    window.restore_layout()  # the saved layout names the review docks too
    if window.review is not None:
        window.review.layout_restored()
    return window
