"""Scenario: the Layers dock while files are opened (real clicks on the layer list)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


@pytest.fixture(scope="module")
def explain_project(demo_project, tmp_path_factory):
    """The demo slide and annotations with an ``evident explain``-like evidence file: 7 maps, gates, 3 subsets."""
    from core.data.bags import read_bag
    from core.evidence.evidence_file import Evidence, Subset, write_evidence

    root = tmp_path_factory.mktemp("explain_project")
    for sub in ("slides", "features", "evidence", "annotations"):
        (root / sub).mkdir()
    (root / "slides" / demo_project["slide"].name).symlink_to(demo_project["slide"])
    shutil.copy(demo_project["features"], root / "features" / demo_project["features"].name)
    shutil.copy(demo_project["annotations"], root / "annotations" / demo_project["annotations"].name)
    bag = read_bag(demo_project["features"])
    n, rng = bag.n_patches, np.random.default_rng(1)
    scores = {k: rng.random(n) for k in ("attention", "gradient", "grad_x_input", "lrp", "single", "loo")}
    scores["ig"] = rng.normal(size=n)
    subsets = {k: Subset(np.sort(rng.choice(n, 30, replace=False)).astype(np.int64), "test")
               for k in ("recovered", "threshold", "attention_topk")}
    write_evidence(root / "evidence" / f"{bag.slide_id}_evidence.h5",
                   Evidence(slide_id=bag.slide_id, coords=bag.coords, classes=("a", "b"), predicted_class=1,
                            scores=scores, gates=rng.random(n), subsets=subsets, model="gce"))
    return root


def _click_row(panel, name: str, qtbot) -> None:
    names = [panel.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.list.count())]
    item = panel.list.item(names.index(name))
    panel.list.scrollToItem(item)
    qtbot.wait(20)  # let the list lay out its rows
    QTest.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.list.visualItemRect(item).center())
    qtbot.wait(20)


def test_opening_files_with_a_lower_row_selected_raises_nothing(window, demo_project, explain_project, qtbot):
    """Regression: a KeyError ('subset: …') came out of the layers panel when a new slide group was
    opened while a row other than the first was selected (pytest-qt fails the test on it)."""
    panel = window.layers_panel
    window.open_paths([explain_project])
    _click_row(panel, "subset: recovered", qtbot)
    assert panel.current_name() == "subset: recovered"
    window.open_paths([demo_project["root"]])  # a group without the explain subsets
    names = {x.name for x in window.session.layers}
    assert "subset: recovered" not in names and panel.current_name() in names
    assert panel.list.count() == len(names)
    _click_row(panel, "subset: gce", qtbot)
    window.open_paths([explain_project])
    assert panel.current_name() in {x.name for x in window.session.layers}
    # the settings shown are the current layer's
    layer = window.session.layer(panel.current_name())
    assert panel.opacity.value() == round(100 * layer.settings.opacity)
