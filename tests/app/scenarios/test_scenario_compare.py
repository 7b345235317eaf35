"""The Compare window after real input: pane counts, A − B, fit, swipe labels, no leak into the main window."""

from __future__ import annotations

import pytest

from .driver import assert_matches_slide, settle


def _scale(view):
    return view.scale()


def test_pane_count_2_4_2_keeps_the_zoom_and_every_pane_paints_the_slide(compare_window, truth_reader, qtbot):
    c = compare_window
    a = c.panes[0].view
    before = a.scale()
    for n in (4, 2, 3, 2):
        c.count.setValue(n)
        qtbot.wait(50)
        for pane in c.panes:
            settle(pane.view, qtbot)
        scales = [p.view.scale() for p in c.panes]
        assert len(c.panes) == n
        assert max(scales) == pytest.approx(min(scales), rel=1e-3)
        # the slide stays on screen at a comparable zoom (never shrunk to a dot)
        assert scales[0] > 0.5 * before, f"{n} panes: zoom fell from {before:.4f} to {scales[0]:.4f}"
        for pane in c.panes:
            assert_matches_slide(pane.view, truth_reader, f"{n} panes, pane {pane.title.text()}")
