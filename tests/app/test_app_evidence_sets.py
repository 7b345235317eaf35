"""Evidence sets in the viewer: an evidence file with ``evidence_set_<j>`` subsets opens as layers whose
list entries and tooltips carry their S/N numbers, and a selected set is drawn on the slide."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest


def _evidence_with_sets(demo_project, folder):
    """The demo evidence file plus evidence sets searched with the demo model (attention guide)."""
    from core.data.bags import read_bag
    from core.diagnostics.evidence_search import SearchConfig, search_subset
    from core.diagnostics.evidence_sets import evidence_sets, evidence_subsets, with_search_results
    from core.diagnostics.interventions import InterventionEngine
    from core.evidence.evidence_file import read_evidence, write_evidence
    from core.review.demo import demo_model

    bag = read_bag(demo_project["features"])
    eng = InterventionEngine(demo_model(), bag.features, bag.coords)
    guide = eng.keep_only(np.arange(eng.n)).attention_after
    cfg = SearchConfig(k_max=3)
    sets, sn = evidence_sets(eng, guide, cfg), search_subset(eng, guide, cfg)
    subsets, numbers = evidence_subsets(sets, sn, cfg, "attention")
    path = folder / f"{bag.slide_id}.evidence.h5"  # as `evident explain --evidence-sets` names it
    write_evidence(path, with_search_results(read_evidence(demo_project["evidence"]), subsets, numbers))
    return path, sets


def test_evidence_sets_open_as_layers_with_sn_numbers_and_are_drawn(window, demo_project, qtbot, tmp_path):
    path, sets = _evidence_with_sets(demo_project, tmp_path)
    assert len(sets.sets) >= 2  # the demo slide holds more than one independent piece of evidence
    window.open_paths([demo_project["slide"], demo_project["features"], path])
    s, panel = window.session, window.layers_panel
    rows = {panel.list.item(i).data(Qt.ItemDataRole.UserRole): panel.list.item(i) for i in range(panel.list.count())}
    for j, st in enumerate(sets.sets, 1):
        item = rows[f"subset: evidence_set_{j}"]
        assert f"S {st.keep_only_drop:+.3f}" in item.text() and f"N {st.complement_degradation:+.3f}" in item.text()
        assert f"N∪ {st.remove_union_degradation:+.3f}" in item.toolTip() and "keep-only drop" in item.toolTip()
        np.testing.assert_array_equal(s.layer(f"subset: evidence_set_{j}").indices, st.indices)
    assert "subset: sufficient_necessary" in rows and "S " in rows["subset: sufficient_necessary"].text()
    assert "S " not in rows["attention"].text()  # maps carry no S/N numbers

    # show only evidence set 1, chosen with a real click in the layers list, and look at the slide
    for layer in s.layers:
        s.update_layer(layer.name, visible=layer.name == "subset: evidence_set_1")
    target = rows["subset: evidence_set_1"]
    rect = panel.list.visualItemRect(target)
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.current_name() == "subset: evidence_set_1"
    i = int(sets.sets[0].indices[0])
    x, y = (float(v) for v in s.grid.coords[i])
    ps = s.grid.patch_size_level0_px
    v = window.view
    v.set_scale(64.0 / ps, centre=(x + ps / 2, y + ps / 2))  # the patch is 64 screen px wide
    qtbot.waitUntil(v.is_filled, timeout=10000)

    def edge_pixels():
        image = v.graphics.grab().toImage()
        vb = v.view_box
        out = []
        for px, py in [(x, y + ps / 2), (x + ps, y + ps / 2), (x + ps / 2, y), (x + ps / 2, y + ps)]:
            wp = v.graphics.mapFromScene(vb.mapViewToScene(QPointF(px, py)))
            c = image.pixelColor(wp.x(), wp.y())
            out.append((c.red(), c.green(), c.blue()))
        return out

    shown = edge_pixels()
    assert all(r > 200 and g > 180 and b < 80 for r, g, b in shown), shown  # the yellow outline (255, 220, 0)
    QTest.keyClick(panel.list, Qt.Key.Key_Space)  # untick the current layer: the outline goes away
    qtbot.waitUntil(lambda: not s.layer("subset: evidence_set_1").settings.visible, timeout=5000)
    hidden = edge_pixels()
    assert all(not (r > 200 and g > 180 and b < 80) for r, g, b in hidden), hidden


def test_evidence_sets_get_distinct_outline_colours(window, demo_project, tmp_path):
    path, sets = _evidence_with_sets(demo_project, tmp_path)
    window.open_paths([demo_project["slide"], demo_project["features"], path])
    colours = [window.session.layer(f"subset: evidence_set_{j}").settings.color for j in range(1, len(sets.sets) + 1)]
    assert len(set(colours)) == len(colours)
