"""Fixtures for the scenario tests: a small 5-level pyramid of real CMU tissue and its own reader."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pyramid_slide(cmu_slide, tmp_path_factory):
    """A 4096 x 4096 JPEG-tiled pyramidal TIFF (5 levels, downsamples 1-16, 0.499 µm/px, 20x) built
    from the real CMU region by the same code as the large benchmark slide (about 2 s)."""
    from core.slide.pyramid import build_pyramid_tiff

    return build_pyramid_tiff(cmu_slide, tmp_path_factory.mktemp("scenario") / "cmu_4096.tiff", size=(4096, 4096))


@pytest.fixture
def truth_reader(pyramid_slide):
    """An independent core SlideReader of the scenario slide (the truth the view is checked against)."""
    from core.slide.reader import open_slide

    reader = open_slide(pyramid_slide)
    yield reader
    reader.close()


@pytest.fixture
def opened(window, pyramid_slide, qtbot):
    """The main window with the scenario slide open and settled; returns its SlideView."""
    from .driver import settle

    window.open_paths([pyramid_slide])
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None, timeout=10000)
    settle(view, qtbot)
    return view


@pytest.fixture(scope="session")
def pyramid_project(pyramid_slide, tmp_path_factory):
    """Features, evidence (attention, gate, ... maps) and annotations on the scenario slide's patch grid."""
    from core.review.demo import write_demo_project

    return write_demo_project(pyramid_slide, tmp_path_factory.mktemp("scenario_project"))


@pytest.fixture
def compare_window(window, pyramid_project, qtbot):
    """The main window with the scenario slide and its maps open, and its Compare window (2 panes,
    created as Review > Compare maps creates it) shown and settled."""
    from app.compare.compare_view import CompareView

    from .driver import settle

    p = pyramid_project
    window.open_paths([p["slide"], p["features"], p["evidence"]])
    qtbot.waitUntil(lambda: window.view.reader is not None, timeout=10000)
    compare = CompareView(window.session, window, tile_workers=2)
    compare.resize(1300, 700)
    compare.show()
    qtbot.waitExposed(compare)
    for pane in compare.panes:
        settle(pane.view, qtbot)
    yield compare
    compare.close()
