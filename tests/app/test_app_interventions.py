"""Selection tools and live keep/remove interventions on the inference thread (demo model, real slide)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.review.demo import demo_model
from core.review.layers import ScalarLayer


def _expected_probs(features: np.ndarray) -> np.ndarray:
    """The demo model written out in numpy: (K, D) features -> (2,) probabilities."""
    z = 4.0 * features[:, 3].astype(np.float64)
    a = np.exp(z - z.max())
    a /= a.sum()
    s = 10.0 * (a @ features[:, 3].astype(np.float64) - 0.3)
    e = np.exp(np.array([0.0, s]) - max(0.0, s))
    return e / e.sum()


@pytest.fixture
def opened(window, demo_project):
    window.open_paths([demo_project["root"]])
    return window, window.session, window.interventions


def test_selection_tools(opened):
    window, s, panel = opened
    ps, coords = s.grid.patch_size_level0_px, s.grid.coords
    # box: a rubber band drawn in the view (the mouse drag itself: tests/app/scenarios/test_scenario_input.py)
    panel.tool.setCurrentText("box")
    window.view.clicked.emit(0.0, 0.0, 0)  # a click alone selects nothing
    assert s.selection.size == 0
    window.view.box_drawn.emit(0.0, 0.0, 2.0 * ps, 1.0 * ps)
    assert s.selection.tolist() == [i for i, (x, y) in enumerate(coords) if x < 2 * ps and y < ps]
    # click toggles one patch
    panel.tool.setCurrentText("click")
    x, y = coords[5] + 10
    window.view.clicked.emit(float(x), float(y), 0)
    assert 5 in s.selection.tolist()
    window.view.clicked.emit(float(x), float(y), 0)
    assert 5 not in s.selection.tolist()
    # polygon / lasso: a triangle over the first column's three top patches' centres
    panel.tool.setCurrentText("polygon")
    for px, py in [(0, 0), (ps * 0.9, 0), (0, 3 * ps)]:
        window.view.clicked.emit(float(px), float(py), 0)
    panel.finish_polygon.click()
    sel = s.selection.tolist()
    centres = coords + ps / 2
    assert sel and all(centres[i, 0] < ps for i in sel)
    # top-k of a map
    panel.select_top_k("attention", 5)
    assert sorted(s.selection.tolist()) == sorted(np.argsort(-s.layer("attention").values)[:5].tolist())
    # GCE subset and annotation region and everything except
    panel.select_gce_subset()
    assert s.selection.tolist() == s.layer("subset: gce").indices.tolist()
    panel.select_region()
    assert s.selection.size == 6  # the demo annotation covers 3 x 2 patches
    n = s.bag.n_patches
    panel.select_everything_except()
    assert s.selection.size == n - 6
    assert window.overlays.selection_item is not None
    panel.clear.click()
    assert s.selection.size == 0 and window.overlays.selection_item is None


def test_intervention_without_model_says_so(opened):
    window, s, panel = opened
    panel.select_top_k("attention", 3)
    assert panel.intervene("keep") is None
    assert "checkpoint" in window.status_text.text()


@pytest.mark.parametrize("action", ["keep", "remove"])
def test_intervention_round_trip_and_undo(opened, qtbot, action):
    window, s, panel = opened
    panel.model = demo_model()
    visible_before = [x.name for x in s.layers if isinstance(x, ScalarLayer) and x.settings.visible]
    assert len(visible_before) == 1
    panel.select_gce_subset()
    sel = s.selection.copy()
    with qtbot.waitSignal(panel.result_shown, timeout=20000) as blocker:
        QTest.mouseClick(panel.keep if action == "keep" else panel.remove, Qt.MouseButton.LeftButton)
    r = blocker.args[0]
    feats = s.bag.features
    full = _expected_probs(feats)
    keep = np.zeros(len(feats), bool)
    keep[sel] = True
    kept, rest = _expected_probs(feats[keep]), _expected_probs(feats[~keep])
    np.testing.assert_allclose(r.probs_before, full, atol=1e-5)
    np.testing.assert_allclose(r.probs_after, kept if action == "keep" else rest, atol=1e-5)
    c = int(np.argmax(full))
    assert r.sufficiency_drop == pytest.approx(full[c] - kept[c], abs=1e-5)
    assert r.necessity_drop == pytest.approx(full[c] - rest[c], abs=1e-5)
    assert r.phi_delta == pytest.approx(r.probs_after[c] - full[c], abs=1e-5)
    # new attention layer: NaN on dropped patches, sums to one over the rest
    layer = s.layers[-1]
    assert layer.name == f"attention after {action} #1"
    alive = keep if action == "keep" else ~keep
    assert np.isnan(layer.values[~alive]).all() and np.nansum(layer.values) == pytest.approx(1.0)
    assert panel.history.count() == 1 and "ΔΦ" in panel.history.item(0).text()
    assert f"{r.phi_after:.3f}" in panel.result_label.text()
    # the new maps are listed, not drawn: the map on screen before is still the only one (tissue visible)
    assert not layer.settings.visible
    visible = [x.name for x in s.layers if isinstance(x, ScalarLayer) and x.settings.visible]
    assert visible == visible_before
    panel.undo.click()
    assert not s.history and layer.name not in [x.name for x in s.layers] and panel.history.count() == 0


def _blocking_model(release: threading.Event):
    """The demo model whose embedding step (run when the engine is built) waits for ``release``."""
    model = demo_model()
    inner = model.embed

    def embed(features):
        release.wait(20)
        return inner(features)

    model.embed = embed
    return model


def test_slow_intervention_shows_progress_and_cancels(opened, qtbot):
    window, s, panel = opened
    release = threading.Event()
    panel.model = _blocking_model(release)
    panel.select_top_k("attention", 4)
    job = panel.intervene("remove")
    assert job is not None and not panel.keep.isEnabled()
    qtbot.waitUntil(lambda: panel.cancel.isVisible() and panel.busy.isVisible(), timeout=5000)
    with qtbot.waitSignal(panel.thread.cancelled_job, timeout=20000):
        panel.cancel.click()
        release.set()
    assert not s.history and not panel.busy.isVisible() and panel.keep.isEnabled()
    assert "cancelled" in window.status_text.text()


def test_failed_job_is_reported(opened, qtbot):
    window, s, panel = opened
    panel.model = torch.nn.Linear(2, 2)  # not a MIL host: building the engine fails on the thread
    panel.select_top_k("attention", 2)
    with qtbot.waitSignal(panel.thread.failed_job, timeout=20000):
        panel.intervene("keep")
    assert "intervention failed" in window.status_text.text() and panel.keep.isEnabled()


def test_checkpoint_drop_round_trip_with_a_real_host(window, demo_project, qtbot, tmp_path):
    """An ABMIL checkpoint opened with the slide folder re-predicts through the intervention engine."""
    from core.diagnostics.interventions import InterventionEngine
    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    torch.manual_seed(0)
    config = HostConfig(in_dim=8, n_outputs=2, hidden=16, attn_hidden=8)
    host = build_host("abmil", config).eval()
    ck = tmp_path / "abmil.pt"
    save_checkpoint(ck, host, {"host": "abmil", "host_config": config.to_dict(), "task": "classification",
                               "classes": ["benign", "tumour"]})
    window.open_paths([demo_project["root"], ck])
    s, panel = window.session, window.interventions
    assert s.files.checkpoint == ck
    panel.select_top_k("attention", 10)
    sel = s.selection.copy()
    with qtbot.waitSignal(panel.result_shown, timeout=30000) as blocker:
        panel.intervene("remove")
    r = blocker.args[0]
    expected = InterventionEngine(host, s.bag.features, s.bag.coords).remove(sel)
    np.testing.assert_allclose(r.probs_after, expected.probs_after, atol=1e-6)
    assert r.classes == ("benign", "tumour") and s.history[-1].classes == ("benign", "tumour")


def test_annotation_region_prefers_the_chosen_then_the_drawn_region(opened):
    """With tissue detected, a loaded truth annotation and a region drawn in the viewer, "Annotation
    region" selects the patches of the region layer chosen in the Layers panel, else of the region
    drawn last, never silently the tissue (which would select almost every patch)."""
    import shapely

    from core.review.tissue import TISSUE_LAYER

    window, s, panel = opened
    from core.review.layers import regions_layer

    ps, coords = s.grid.patch_size_level0_px, s.grid.coords
    whole = shapely.box(-1, -1, coords[:, 0].max() + ps + 1, coords[:, 1].max() + ps + 1)
    s.add_layer(regions_layer(TISSUE_LAYER, whole))          # tissue detected: a region over every patch
    window.annotator.doc.add(shapely.box(0, 0, 2 * ps, ps), "Stroma")   # covers two patch centres
    assert "drawn: Stroma" in [x.name for x in s.layers]
    panel.select_region()
    centres = coords + ps / 2
    assert sorted(s.selection.tolist()) == [i for i, (x, y) in enumerate(centres) if x < 2 * ps and y < ps]
    assert "drawn: Stroma" in window.status_text.text()
    loaded = next(x.name for x in s.layers if x.name.startswith("regions: "))
    s.set_current_layer(loaded)
    panel.select_region()
    assert s.selection.size == 6 and loaded in window.status_text.text()
