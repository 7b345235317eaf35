"""Zoom in through every pyramid level and back out with the wheel: the view always shows the slide."""

from __future__ import annotations

from .driver import assert_matches_slide, settle, wheel


def test_wheel_in_through_every_level_and_back_out_paints_the_slide(opened, truth_reader, qtbot):
    view = opened
    assert view.reader.level_count == 5
    start = view.tiles.current_level
    assert_matches_slide(view, truth_reader, "after opening")
    seen = [start]
    while view.tiles.current_level > 0:
        wheel(view, qtbot, 3)
        settle(view, qtbot)
        seen.append(view.tiles.current_level)
        assert_matches_slide(view, truth_reader, f"zoomed in to level {seen[-1]}")
    assert seen[-1] == 0 and len(set(seen)) == start + 1  # every level was on screen
    while view.tiles.current_level < start:
        wheel(view, qtbot, -3)
        settle(view, qtbot)
        assert_matches_slide(view, truth_reader, f"zoomed back out to level {view.tiles.current_level}")


def test_zoom_back_out_to_a_level_seen_before_reads_nothing_from_the_slide(opened, window, truth_reader, qtbot):
    from PySide6.QtCore import Qt

    from .driver import key

    view = opened
    qtbot.waitActive(window)
    start = view.tiles.current_level
    wheel(view, qtbot, 5)
    settle(view, qtbot)
    assert view.tiles.current_level < start
    reads = view.tiles.loader.reads
    key(window, qtbot, Qt.Key.Key_F)  # straight back to the fitted view (no intermediate level)
    settle(view, qtbot)
    assert view.tiles.current_level == start
    assert view.tiles.loader.reads == reads  # served by the placed items and the tile cache
    assert_matches_slide(view, truth_reader, "back at the level seen first")
