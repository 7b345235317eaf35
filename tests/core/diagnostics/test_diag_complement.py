"""One definition of the GCE complement X_¬S: the remaining patches with their full-bag gates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics.cohort_snr import slide_outputs
from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.snr import slide_snr as engine_snr
from core.models.access import full_bag_gates
from testkit.explain import abmil, bag, gce, mixer


def _subset(coords: np.ndarray) -> np.ndarray:
    """Patches at the coordinate extremes: removing them changes the per-bag coordinate range."""
    return np.unique(np.concatenate([np.argsort(coords[:, 0])[[0, -1]], np.argsort(coords[:, 1])[[0, -1]]]))


@pytest.mark.parametrize("host", [abmil(d=6, c=3), mixer(d=6, c=3)], ids=["abmil_fast", "mixer_forward"])
def test_selection_complement_matches_the_engine(host):
    model = gce(host)
    x, c = bag(n=30, d=6, seed=3)
    idx = _subset(c)
    xt, ct = torch.from_numpy(x), torch.from_numpy(c).float()
    rows = slide_outputs(model, xt, ct, idx)
    eng = InterventionEngine(model, x, c)
    np.testing.assert_allclose(rows["full"], eng.output_before, atol=1e-5)
    np.testing.assert_allclose(rows["comp"], eng.remove_many([idx]).outputs[0], atol=1e-5)
    np.testing.assert_allclose(rows["keep"], eng.keep_only_many([idx], hard=True).outputs[0], atol=1e-5)
    mine = engine_snr(eng, idx)
    np.testing.assert_allclose(mine.comp, rows["comp"], atol=1e-5)
    # the definition matters here: re-running the selector on X_¬S gives other gates and outputs
    keep = np.setdiff1d(np.arange(len(x)), idx)
    with torch.no_grad():
        rerun = model(xt[keep], ct[keep])
    gates = full_bag_gates(model, xt, ct)
    assert float((rerun.gates - gates[keep]).abs().max()) > 1e-3
    assert np.abs(rerun.host.output.double().numpy() - rows["comp"]).max() > 1e-4


def test_bare_host_complement_is_the_sub_bag():
    host = abmil(d=6, c=3)
    x, c = bag(n=20, d=6, seed=4)
    idx = np.array([0, 5, 7])
    xt = torch.from_numpy(x)
    assert full_bag_gates(host, xt, None) is None
    rows = slide_outputs(host, xt, None, idx)
    keep = np.setdiff1d(np.arange(20), idx)
    with torch.no_grad():
        np.testing.assert_allclose(rows["comp"], host(xt[keep]).output.double().numpy(), atol=1e-6)
    np.testing.assert_allclose(rows["comp"], InterventionEngine(host, x).remove_many([idx]).outputs[0], atol=1e-5)
