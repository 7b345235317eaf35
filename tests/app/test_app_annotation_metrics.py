"""The layers dock states how the selected map agrees with the annotation layers."""

from __future__ import annotations

from core.review.annotation_metrics import format_metrics, map_vs_annotation
from core.review.layers import RegionLayer


def _select(window, name: str) -> None:
    panel = window.layers_panel
    for row in range(panel.list.count()):
        if panel.current_name is not None and panel.list.item(row).text().startswith(name):
            panel.list.setCurrentRow(row)
            return
    raise AssertionError(f"no layer {name!r} in the dock")


def test_selected_map_shows_its_agreement_with_the_annotation(window, demo_project):
    window.open_paths([demo_project["root"]])
    s = window.session
    regions = [x for x in s.layers if isinstance(x, RegionLayer)]
    assert regions, "the demo project carries an annotation"
    _select(window, "attention ")
    text = window.layers_panel.annotation_metrics.text()
    expected = format_metrics(regions[0].name, map_vs_annotation(s.layer("attention").values, s.bag.coords,
                                                                  s.grid.patch_size_level0_px, regions[0].geometry))
    assert text.splitlines()[0] == expected and "coverage" in text
    _select(window, regions[0].name)  # not a map: nothing to compare
    assert window.layers_panel.annotation_metrics.text() == ""
