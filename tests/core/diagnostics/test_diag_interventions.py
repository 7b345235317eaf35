"""Intervention engine: the cached fast path equals real forwards, for bare hosts and GCE models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics.interventions import InterventionEngine
from core.errors import EvidentError
from testkit.explain import abmil, bag, gce, mixer


def _models():
    return {"abmil": abmil(), "abmil_gce": gce(abmil()), "mixer": mixer(), "mixer_gce": gce(mixer())}


def _reference(model, x, c, keep, gate=None):
    """Real forward on the kept sub-bag with the full-bag gates (GCE) held fixed."""
    xt, ct = torch.from_numpy(x), torch.from_numpy(c).float()
    with torch.no_grad():
        if hasattr(model, "class_weights"):
            g = model(xt, ct).gates if gate is None else gate
            return model.host(xt[keep], ct[keep], gate=g[keep]).output.double().numpy()
        return model(xt[keep], ct[keep], gate=None if gate is None else gate[keep]).output.double().numpy()


def _softmax(o):
    e = np.exp(o - o.max())
    return e / e.sum()


@pytest.mark.parametrize("name", ["abmil", "abmil_gce", "mixer", "mixer_gce"])
def test_keep_remove_gate_match_real_forward(name):
    model = _models()[name]
    x, c = bag(20)
    eng = InterventionEngine(model, x, c)
    assert eng.fast == name.startswith("abmil")
    idx = np.array([3, 7, 11, 15])
    rest = np.setdiff1d(np.arange(20), idx)
    kept = eng.keep_only(idx)
    np.testing.assert_allclose(kept.probs_after, _softmax(_reference(model, x, c, idx)), atol=1e-6)
    removed = eng.remove(idx)
    np.testing.assert_allclose(removed.probs_after, _softmax(_reference(model, x, c, rest)), atol=1e-6)
    assert np.isnan(removed.attention_after[idx]).all()
    assert removed.attention_after[rest].sum() == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(kept.attention_after[rest]).all()
    full = _softmax(_reference(model, x, c, np.arange(20)))
    assert kept.phi_before == pytest.approx(full.max(), abs=1e-6)
    assert kept.phi_delta == pytest.approx(kept.phi_after - kept.phi_before)
    g = np.linspace(0.05, 1.0, 20).astype(np.float32)
    soft = eng.soft_gate(g)
    np.testing.assert_allclose(soft.probs_after, _softmax(_reference(model, x, c, np.arange(20), torch.from_numpy(g))), atol=1e-6)
    np.testing.assert_allclose(soft.gates_after, g, atol=1e-7)
    if name.endswith("gce"):
        assert kept.gates_after is not None and np.isnan(kept.gates_after[rest]).all()
    else:
        assert kept.gates_after is None


@pytest.mark.parametrize("name", ["abmil_gce", "mixer"])
def test_batched_equals_single_and_empty_bag(name):
    model = _models()[name]
    x, c = bag(15)
    eng = InterventionEngine(model, x, c)
    sets = [np.array([0]), np.arange(5), np.array([], dtype=np.int64), np.arange(15)]
    many = eng.keep_only_many(sets)
    for i, s in enumerate(sets):
        assert many.phi[i] == pytest.approx(eng.keep_only(s).phi_after, abs=1e-6)
    rm = eng.remove_many(sets)
    for i, s in enumerate(sets):
        assert rm.phi[i] == pytest.approx(eng.remove(s).phi_after, abs=1e-6)
    with torch.no_grad():
        zero = model.host(torch.zeros(1, 6), torch.zeros(1, 2)) if hasattr(model, "class_weights") else model(torch.zeros(1, 6))
    np.testing.assert_allclose(many.outputs[2], zero.output.double().numpy(), atol=1e-6)
    np.testing.assert_allclose(rm.outputs[3], zero.output.double().numpy(), atol=1e-6)
    assert many.phi[3] == pytest.approx(eng.phi_before, abs=1e-6)


def test_hard_keep_uses_unit_gates():
    model = gce(abmil())
    x, c = bag(10)
    eng = InterventionEngine(model, x, c)
    idx = np.array([1, 2, 5])
    with torch.no_grad():
        ref = model.host(torch.from_numpy(x[idx])).output.double().numpy()
    np.testing.assert_allclose(eng.keep_only(idx, hard=True).probs_after, _softmax(ref), atol=1e-6)
    assert eng.keep_only_many([idx], hard=True).phi[0] == pytest.approx(eng.keep_only(idx, hard=True).phi_after, abs=1e-6)


def test_survival_phi_is_sigmoid_of_standardised_risk():
    model = abmil(c=1, task="survival")
    x, c = bag(8)
    eng = InterventionEngine(model, x, c, risk_scale=(0.5, 2.0))
    r = eng.output_before[0]
    assert eng.phi_before == pytest.approx(1 / (1 + np.exp(-(r - 0.5) / 2.0)))
    assert eng.keep_only([0]).probs_after.shape == (1,)


def test_bad_input_is_refused():
    model = abmil()
    x, c = bag(10)
    eng = InterventionEngine(model, x, c)
    with pytest.raises(EvidentError, match="outside"):
        eng.keep_only([10])
    with pytest.raises(EvidentError, match="gate has 3 values"):
        eng.soft_gate([1.0, 1.0, 1.0])
    with pytest.raises(EvidentError, match=r"too large for memory: 10 patches"):
        InterventionEngine(model, x, c, max_bytes=100)
    with pytest.raises(EvidentError, match="coords"):
        InterventionEngine(model, x, c[:5])


def test_remove_falls_back_when_the_removed_patches_hold_all_attention():
    model = abmil()
    x, c = bag(12)
    eng = InterventionEngine(model, x, c)
    eng.z = eng.z.clone()
    eng.z[0] = 200.0  # patch 0 holds all the attention: subtracting it would cancel
    rest = np.arange(1, 12)
    assert eng._eval_removed(np.array([0])) is None
    got = eng.remove([0])
    ref = eng._eval_subset(rest)[0]
    np.testing.assert_allclose(got.probs_after, eng._probs(ref[None])[0], atol=1e-6)
    assert np.isnan(got.attention_after[0]) and got.attention_after[rest].sum() == pytest.approx(1.0, abs=1e-6)
