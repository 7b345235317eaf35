"""Every export of the review (GeoJSON, CSV, figure, session, screenshot) is written through core's
atomic writer: it has the file mode that writer gives (core/atomic.py), whatever that is."""

from __future__ import annotations

import stat

from .review_input import click, drop


def test_every_export_goes_through_the_atomic_writer(review_window, gce_project, demo_checkpoint, qtbot, tmp_path):
    from app.screenshot import grab
    from core.atomic import atomic_write_text

    drop(review_window, [gce_project["root"], demo_checkpoint])
    panel, ex = review_window.interventions, review_window.review.exports
    click(panel.gce)
    with qtbot.waitSignal(panel.result_shown, timeout=30000):
        click(panel.keep)
    out = tmp_path / "out"
    out.mkdir()
    reference = out / "reference.txt"
    atomic_write_text(reference, "x")
    mode = stat.S_IMODE(reference.stat().st_mode)
    assert ex.export_selection_geojson(out / "sel.geojson")
    assert ex.export_subset_geojson("subset: recovered", out / "sub.geojson")
    assert ex.export_threshold_geojson("attention", 0.5, out / "thr.geojson")
    assert ex.export_numbers_csv(out / "num.csv")
    assert ex.export_figure(out / "fig.png", width_px=600)
    assert ex.save_session(out / "s.json")
    grab(review_window, out / "shot.png")
    written = sorted(p.name for p in out.iterdir() if p != reference)
    assert written == ["fig.png", "num.csv", "num_interventions.csv", "s.json", "sel.geojson", "shot.png",
                       "sub.geojson", "thr.geojson"]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        p.name: mode for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left behind
