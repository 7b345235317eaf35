"""Viewer interventions through the engine: S/N numbers, cancellation, R for GCE models."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.diagnostics.interventions import InterventionEngine
from core.models.base import HostConfig
from core.models.gce import build_gce
from core.models.registry import build_host
from core.review.intervene import Cancelled, InterventionRequest, Predictor


@pytest.fixture
def bag(rng):
    feats = rng.normal(size=(40, 6)).astype(np.float32)
    coords = np.stack([np.arange(40) % 8, np.arange(40) // 8], axis=1).astype(np.int64) * 256
    return feats, coords


def _host():
    torch.manual_seed(0)
    return build_host("abmil", HostConfig(in_dim=6, n_outputs=3, hidden=8, attn_hidden=4)).eval()


def test_keep_and_remove_report_s_and_n(bag):
    feats, coords = bag
    host = _host()
    p = Predictor(host, feats, coords, ("a", "b", "c"))
    sel = np.array([3, 1, 7])
    r = p.run(InterventionRequest("keep", sel))
    eng = InterventionEngine(host, feats, coords)
    kept, removed = eng.keep_only(sel), eng.remove(sel)
    np.testing.assert_allclose(r.probs_after, kept.probs_after)
    assert r.sufficiency_drop == pytest.approx(kept.phi_before - kept.phi_after)
    assert r.necessity_drop == pytest.approx(removed.phi_before - removed.phi_after)
    assert r.indices.tolist() == [1, 3, 7] and r.classes == ("a", "b", "c") and r.recoverability_gap is None
    r2 = p.run(InterventionRequest("remove", sel))
    np.testing.assert_allclose(r2.probs_after, removed.probs_after)
    assert np.isnan(r2.attention_after[sel]).all()
    with pytest.raises(ValueError):
        InterventionRequest("zero", sel)


def test_cancelled_before_running(bag):
    feats, coords = bag
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        Predictor(_host(), feats, coords).run(InterventionRequest("keep", np.array([0])), ev)


def test_gce_model_reports_recoverability_gap(bag, rng):
    feats, coords = bag
    torch.manual_seed(0)
    model = build_gce(_host(), rng.normal(size=(4, 6)).astype(np.float32)).eval()
    p = Predictor(model, feats, coords)
    eng = InterventionEngine(model, feats, coords)
    s_pi = np.flatnonzero(eng.gates.double().numpy() >= 0.5)
    expected = abs(eng.keep_only(s_pi, hard=True).phi_after - eng.phi_before)
    r = p.run(InterventionRequest("remove", np.array([0, 1])))
    assert r.recoverability_gap == pytest.approx(expected) and r.gates_after is not None


def test_device_comes_from_evident_device(bag, monkeypatch):
    from core.errors import EvidentError

    feats, coords = bag
    monkeypatch.setenv("EVIDENT_DEVICE", "cpu")
    r = Predictor(_host(), feats, coords).run(InterventionRequest("remove", np.array([0, 1])))
    assert r.device == "cpu"
    monkeypatch.setenv("EVIDENT_DEVICE", "tpu-9")
    with pytest.raises(EvidentError, match="unknown device 'tpu-9'"):
        Predictor(_host(), feats, coords)


def test_auto_device_never_picks_mps(bag, monkeypatch):
    from core.errors import EvidentError

    feats, coords = bag
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)  # an Apple machine
    monkeypatch.setenv("EVIDENT_DEVICE", "auto")
    assert Predictor(_host(), feats, coords).device == "cpu"
    monkeypatch.setenv("EVIDENT_DEVICE", "mps")
    with pytest.raises(EvidentError, match="float64.*EVIDENT_DEVICE=cpu"):
        Predictor(_host(), feats, coords)
