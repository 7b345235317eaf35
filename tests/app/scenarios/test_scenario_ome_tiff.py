"""Scenario: a user drops an OME-TIFF OpenSlide cannot open (JPEG 2000 tiles, SubIFD pyramid of real
CMU tissue) on the window; it opens through the tifffile fallback and the view paints the source
pixels at every level it shows, checked against the arrays the file was written from."""

from __future__ import annotations

import openslide
import pytest

from testkit.ome_tiff import ArraySlide

from .driver import assert_matches_slide, settle, wheel
from .review_input import drop


def test_dropped_ome_tiff_paints_the_source_pixels_at_every_level(window, ome_pyramid, qtbot):
    with pytest.raises(openslide.OpenSlideError):  # the file really is one OpenSlide refuses
        openslide.OpenSlide(ome_pyramid["ome"])
    source = ArraySlide(ome_pyramid["levels"])  # no TIFF reader: the pixels the file was written from
    drop(window, [ome_pyramid["ome"]])
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None, timeout=15000)
    settle(view, qtbot)
    assert view.reader.vendor == "tifffile" and view.reader.level_count == 3
    assert view.reader.mpp == pytest.approx(0.499)
    assert window.windowTitle().endswith(" cmu")  # the slide id: the name without ".ome.tif"
    seen = [view.tiles.current_level]
    assert_matches_slide(view, source, "dropped OME-TIFF, fitted", diff_bound=2.0)
    while view.tiles.current_level > 0:
        wheel(view, qtbot, 3)
        settle(view, qtbot)
        seen.append(view.tiles.current_level)
        assert_matches_slide(view, source, f"zoomed in to level {seen[-1]}", diff_bound=2.0)
    assert seen[0] > 0 and seen[-1] == 0, seen  # a reduced level and level 0 were both on screen
