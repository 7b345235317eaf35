"""Scenario: a model trained elsewhere (a CLAM-MB or TransMIL checkpoint), imported with ``evident
import-model``, opens in the viewer with a slide's features and runs a live Keep only: the result
line changes to the kept-only result, whose probabilities are the imported model's on the kept patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.bags import read_bag
from core.models.checkpoint import load_checkpoint
from testkit.imported import import_random

from .review_input import click, drop, painted_spread


@pytest.mark.parametrize("kind", ["clam_mb", "transmil"])
def test_imported_model_keep_only(review_window, gce_project, qtbot, tmp_path, kind):
    d = read_bag(gce_project["features"]).features.shape[1]
    ckpt = import_random(kind, d, tmp_path, classes="benign,tumour")
    w, s, panel = review_window, review_window.session, review_window.interventions
    drop(w, [gce_project["root"], ckpt])
    qtbot.waitUntil(lambda: s.files is not None and s.files.checkpoint == ckpt and s.bag is not None, timeout=15000)
    assert panel.result_label.text() == "No intervention yet"
    click(panel.gce)
    assert s.selection.size > 0
    with qtbot.waitSignal(panel.result_shown, timeout=60000):
        click(panel.keep)
    rec = s.history[0]
    text = panel.result_label.text()
    assert text.startswith("#1 kept only") and text == "#1 " + rec.summary()
    model, _ = load_checkpoint(ckpt)
    bag = read_bag(gce_project["features"])
    keep = np.asarray(s.selection)
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(bag.features[keep]).float(),
                                   torch.from_numpy(bag.coords[keep]).float()).output, 0).double().numpy()
    np.testing.assert_allclose(rec.probs_after, want, atol=1e-5)
    qtbot.waitUntil(lambda: w.view.tiles is not None and w.view.tiles.is_filled(), timeout=15000)
    assert painted_spread(w.view) > 10 and painted_spread(panel.chart) > 1
