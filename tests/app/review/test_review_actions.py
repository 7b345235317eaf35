"""The review features of the window build_main_window builds: menus, docks, exports, session round trip."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.data.annotations import read_geojson


@pytest.fixture
def window(review_window):
    return review_window


@pytest.fixture
def review(window, demo_project, qtbot):
    window.open_paths([demo_project["slide"], demo_project["features"], demo_project["evidence"]])
    return window.review


def test_menus_docks_and_shortcuts(window, review):
    assert window.review is review
    titles = [a.text() for a in window.menuBar().actions()]
    assert "&Review" in titles
    assert review.actions["next_failure"].shortcut().toString() == "Ctrl+]"
    assert review.actions["prev_failure"].shortcut().toString() == "Ctrl+["
    assert review.actions["compare"].shortcut().toString() == "Ctrl+K"
    assert set(review.docks) == {"gallery", "cohort", "plots", "exemplars"}
    shared = window.thread  # the one inference thread, created by the builder and handed to every panel
    assert review.plots.thread is shared and review.exemplars.thread is shared and review.cohort.thread is shared
    assert window.interventions.thread is shared and shared.parent() is window
    assert not (review.plots.own_thread or review.exemplars.own_thread or review.cohort.own_thread)
    assert review.gallery.map_box.count() >= 3  # it follows the session's layers


def test_gallery_click_centres_the_main_view(window, review, qtbot):
    g = review.gallery
    if not g.items:
        qtbot.waitSignal(g.thumbnails_ready, timeout=10000).wait()
    window.view.set_scale(0.5, (100.0, 100.0))
    g.activate(3)
    x0, y0, x1, y1 = window.view.viewport()
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(g.items[3].centre, abs=1.0)


def test_compare_window_opens_on_the_session(window, review, qtbot):
    cv = review.open_compare()
    qtbot.waitExposed(cv)
    assert len(cv.panes) == 2 and cv.panes[0].view.reader is window.session.slide
    assert review.open_compare() is cv
    cv.close()


def test_exports_geojson_csv_figure(window, review, tmp_path):
    s = window.session
    s.set_selection(np.array([0, 1, 2, 40]))
    assert review.exports.export_selection_geojson(tmp_path / "sel.geojson")
    anns = read_geojson(tmp_path / "sel.geojson")
    assert sum(a.properties["n_patches"] for a in anns) == 4
    assert review.exports.export_subset_geojson("subset: gce", tmp_path / "gce.geojson")
    n_gce = sum(a.properties["n_patches"] for a in read_geojson(tmp_path / "gce.geojson"))
    assert n_gce == s.layer("subset: gce").indices.size
    assert review.exports.export_threshold_geojson("attention", 0.9, tmp_path / "thr.geojson")
    n_thr = sum(a.properties["n_patches"] for a in read_geojson(tmp_path / "thr.geojson"))
    from core.review.export import threshold_indices

    assert n_thr == threshold_indices(s.layer("attention"), 0.9).size > 0
    assert review.exports.export_numbers_csv(tmp_path / "n.csv")
    lines = (tmp_path / "n.csv").read_text().splitlines()
    assert len(lines) == s.bag.n_patches + 1 and "attention" in lines[0] and lines[1].endswith(",1")
    assert review.exports.export_figure(tmp_path / "fig.png", 600)
    assert (tmp_path / "fig.png").stat().st_size > 5000


def test_export_into_unusable_folder_says_so(window, review, tmp_path):
    said = []
    window.session.message.connect(lambda level, text: said.append((level, text)))
    window.session.set_selection(np.array([0]))
    (tmp_path / "f").write_text("x")
    assert not review.exports.export_selection_geojson(tmp_path / "f" / "sel.geojson")
    assert said[-1][0] == "error" and "cannot create output folder" in said[-1][1]
    assert "cannot create output folder" in window.status_text.text()


def test_session_round_trip_with_moved_files(window, review, demo_project, tmp_path):
    s = window.session
    s.update_layer("attention", colormap="turbo", opacity=0.7)
    s.set_selection(np.array([5, 6]))
    window.view.set_scale(0.4, (1000.0, 1500.0))
    view = window.view.viewport()
    assert review.exports.save_session(tmp_path / "s.json")
    moved = tmp_path / "moved"
    shutil.copytree(demo_project["root"] / "features", moved / "features")
    shutil.copytree(demo_project["root"] / "evidence", moved / "evidence")
    doc = json.loads((tmp_path / "s.json").read_text())
    old_feats = str(tmp_path / "gone" / "features" / demo_project["features"].name)
    doc["files"]["features"] = old_feats
    doc["files"]["evidence"] = str(tmp_path / "gone" / "evidence" / demo_project["evidence"].name)
    (tmp_path / "s.json").write_text(json.dumps(doc))
    s.set_selection(np.zeros(0, np.int64))
    asked = []

    def locate(missing):
        asked.append(missing)
        return {old_feats: str(moved / "features" / demo_project["features"].name)}

    problems = review.exports.open_session(tmp_path / "s.json", locate=locate)
    assert problems == [] and [k for k, _ in asked[0]] == ["features", "evidence"]
    assert str(s.files.evidence).startswith(str(moved))
    assert s.layer("attention").settings.colormap == "turbo" and s.selection.tolist() == [5, 6]
    now = window.view.viewport()
    assert ((now[0] + now[2]) / 2, (now[1] + now[3]) / 2) == pytest.approx(((view[0] + view[2]) / 2, (view[1] + view[3]) / 2), abs=2)
    cam = window.view.camera  # the restored place is the view's camera, too
    assert cam.centre == pytest.approx(((now[0] + now[2]) / 2, (now[1] + now[3]) / 2), abs=1e-6)
    assert cam.scale == pytest.approx(window.view.scale(), rel=1e-9) and cam.scale == pytest.approx(0.4, rel=1e-3)


def test_locate_dialog_mapping(qtbot):
    from app.dialogs.locate_files import LocateFilesDialog

    dlg = LocateFilesDialog([("features", "/old/a.h5"), ("evidence", "/old/b.h5")])
    qtbot.addWidget(dlg)
    dlg.set_location("/old/a.h5", "/new/a.h5")
    assert dlg.mapping() == {"/old/a.h5": "/new/a.h5"} and "→" in dlg.labels["/old/a.h5"].text()
