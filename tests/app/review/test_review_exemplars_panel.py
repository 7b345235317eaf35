"""The exemplars dock: add a named concept from the selection, responses, save, recovery changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture
def panel(qtbot, demo_project):
    from app.panels.exemplars import ExemplarsPanel
    from core.models.gce import GCEConfig, build_gce
    from core.review.demo import demo_model
    from core.review.session import ReviewSession

    s = ReviewSession()
    s.open([demo_project["slide"], demo_project["features"], demo_project["evidence"]])
    p = ExemplarsPanel(s)
    qtbot.addWidget(p)
    torch.manual_seed(0)
    anchors = np.random.default_rng(0).normal(size=(2, 16)).astype(np.float32)
    p.model = build_gce(demo_model(in_dim=s.bag.features.shape[1]), anchors, GCEConfig(), prompts=("a", "b")).eval()
    yield p
    p.shutdown()
    s.close()


def test_add_concept_save_and_recover(panel, qtbot, tmp_path):
    from app.panels.exemplars import RECOVERED
    from core.data.anchors import read_anchor_bank

    s = panel.session
    with qtbot.waitSignal(panel.recovered, timeout=30000) as first:
        panel.rerun_recovery()
    base = np.sort(first.args[0])
    assert RECOVERED in [x.name for x in s.layers]
    light = np.argsort(s.bag.features[:, 3])[:6]
    s.set_selection(light)
    panel.name.setText("background")
    with qtbot.waitSignal(panel.bank_changed, timeout=5000, raising=False) as sig:
        panel.add_selection()
    assert sig.signal_triggered, panel.note.text()
    assert sig.args == [3] and panel.bank.prompts == ("a", "b", "background")
    assert panel.table.rowCount() == 3 and panel.table.item(2, 0).text() == "background"
    r = float(panel.table.item(2, 1).text())
    assert r > 0.5  # the selection responds to the concept made from it
    assert panel.save_to(tmp_path / "bank.npz")
    assert read_anchor_bank(tmp_path / "bank.npz").prompts == ("a", "b", "background")
    with qtbot.waitSignal(panel.recovered, timeout=30000) as second:
        panel.rerun_recovery()
    layer = s.layer(RECOVERED)
    np.testing.assert_array_equal(layer.indices, np.unique(second.args[0]))
    from core.review.exemplars import recover_with_bank

    expected, _ = recover_with_bank(panel.space, panel.bank)
    np.testing.assert_array_equal(np.sort(second.args[0]), np.sort(expected.indices))
    assert base.size > 0


def test_unnamed_concept_is_refused(panel, qtbot):
    said = []
    panel.session.message.connect(lambda level, text: said.append(text))
    panel.session.set_selection(np.array([1, 2]))
    panel.name.setText("")
    with qtbot.waitSignal(panel.thread.finished_job, timeout=30000):
        panel.add_selection()
    assert panel.bank is None and "name the concept" in panel.note.text() and said
