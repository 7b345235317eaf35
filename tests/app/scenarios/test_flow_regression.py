"""Scenario: a reviewer opens a slide with a *regression* model and keeps only the GCE subset; the
result line and the bar chart show the predicted value in the target's units (not a class)."""

from __future__ import annotations

import numpy as np
import pytest

from .review_input import click, drop


@pytest.fixture
def regression_checkpoint(tmp_path):
    """An ABMIL regression head over the project's 8 features, target scale mean 50, SD 10."""
    import torch

    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    torch.manual_seed(3)
    cfg = HostConfig(in_dim=8, n_outputs=1, hidden=16, attn_hidden=8, task="regression")
    host = build_host("abmil", cfg).eval()
    path = tmp_path / "regression.pt"
    save_checkpoint(path, host, {"host": "abmil", "host_config": cfg.to_dict(), "task": "regression", "classes": [],
                                 "target_scale": [50.0, 10.0]})
    return path, host


def test_keep_only_shows_the_predicted_value(review_window, gce_project, regression_checkpoint, qtbot):
    from core.diagnostics.interventions import InterventionEngine

    ckpt, host = regression_checkpoint
    window = review_window
    drop(window, [gce_project["root"], ckpt])
    s, panel = window.session, window.interventions
    assert s.files.checkpoint == ckpt
    click(panel.gce)
    sel = s.selection.copy()
    assert sel.size > 0
    with qtbot.waitSignal(panel.result_shown, timeout=30000) as blocker:
        click(panel.keep)
    engine = InterventionEngine(host, s.bag.features, s.bag.coords)  # independent of the viewer's predictor
    z0, z1 = engine.output_before[0], engine.keep_only(sel).probs_after[0]
    v0, v1 = 50.0 + 10.0 * z0, 50.0 + 10.0 * z1
    r = blocker.args[0]
    assert r.values == pytest.approx((v0, v1), rel=1e-6)
    text = panel.result_label.text()
    assert f"predicted value {v0:.4g} → {v1:.4g}" in text and "target SD" in text and "Φ" not in text, text
    assert f"S (keep-only change) {abs(z1 - z0):.3f} SD" in text, text  # |Δ| in the target's SD units
    assert s.history[-1].values == pytest.approx((v0, v1), rel=1e-6)
    qtbot.waitUntil(lambda: panel.chart.isVisible())
    img = panel.chart.grab().toImage()
    rgb = np.array([[img.pixelColor(x, y).getRgb()[:3] for x in range(0, img.width(), 2)]
                    for y in range(0, img.height(), 2)])
    blue = np.all(np.abs(rgb - np.array([40, 110, 200])) <= 12, axis=2)
    grey = np.all(np.abs(rgb - np.array([150, 150, 150])) <= 12, axis=2)
    assert blue.any() and grey.any()  # both bars painted
    lo, hi = panel.chart.getViewBox().viewRange()[1]
    assert lo <= min(v0, v1, 0.0) and hi >= max(v0, v1) > 1.0  # the value axis follows the values, not [0, 1]
    assert r.classes == ("value",)
