"""The gallery dock: thumbnails off the GUI thread, click navigates, contact-sheet export."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def gallery(qtbot, demo_project):
    from app.panels.gallery import GalleryPanel
    from core.review.session import ReviewSession

    s = ReviewSession()
    panel = GalleryPanel(s)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.thumbnails_ready, timeout=10000):
        s.open([demo_project["slide"], demo_project["features"], demo_project["evidence"]])
    yield panel
    panel.shutdown()
    s.close()


def test_top_k_thumbnails_and_navigation(gallery, qtbot):
    s = gallery.session
    gallery.map_box.setCurrentText("attention")
    with qtbot.waitSignal(gallery.thumbnails_ready, timeout=10000) as sig:
        gallery.k.setValue(5)
    assert sig.args == [5] and gallery.list.count() == 5
    att = s.layer("attention").values
    top = np.argsort(-att, kind="stable")[:5]
    assert [it.index for it in gallery.items] == top.tolist()
    assert gallery.list.item(0).text().startswith("#1 ")
    ps = s.grid.patch_size_level0_px
    with qtbot.waitSignal(gallery.navigate) as nav:
        gallery.list.itemClicked.emit(gallery.list.item(2))
    assert nav.args == [float(s.grid.coords[top[2], 0] + ps / 2), float(s.grid.coords[top[2], 1] + ps / 2)]
    with qtbot.waitSignal(gallery.thumbnails_ready, timeout=10000):
        gallery.which.setCurrentText("bottom")
    assert gallery.items[0].index == int(np.argsort(-att, kind="stable")[-1])


def test_navigation_moves_a_slide_view(gallery, qtbot):
    from app.viewer.slide_view import SlideView

    view = SlideView(tile_workers=1)
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.set_slide(gallery.session.slide)
    gallery.navigate.connect(view.center_on)
    gallery.activate(0)
    x0, y0, x1, y1 = view.viewport()
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(gallery.items[0].centre, abs=1.0)
    view.shutdown()


def test_export_sheet_and_unwritable_target(gallery, tmp_path):
    assert gallery.export_sheet(tmp_path / "sheet.png") and (tmp_path / "sheet.png").stat().st_size > 1000
    said = []
    gallery.session.message.connect(lambda level, text: said.append((level, text)))
    (tmp_path / "file").write_text("x")
    assert not gallery.export_sheet(tmp_path / "file" / "sheet.png")
    assert said and said[-1][0] == "error" and "cannot create output folder" in said[-1][1]
