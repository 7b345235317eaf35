"""GCE wrapper: host reproduction, ablations, annealing, shapes, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models.gce import ABLATIONS, GCEConfig, build_gce
from core.models.gce_loss import budget_loss, grounding_loss
from core.models.gce_parts import noisy_or_coverage
from testkit.gce import tiny_host


def _bag(n=30, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, 5000, (n, 2), generator=g)


def _model(ablation="full", d=16, m=5, d_a=None, c=2, task="classification", bridge="constrained"):
    host = tiny_host(d, c, task)
    anchors = np.random.default_rng(1).standard_normal((m, d_a or d)).astype(np.float32)
    torch.manual_seed(0)
    return build_gce(host, anchors, GCEConfig(ablation=ablation, bridge=bridge), anchor_digest="abc")


def test_gate_of_ones_reproduces_host():
    model = _model().eval()
    x, c = _bag()
    with torch.no_grad():
        ref = model.host(x, c).output
        got = model(x, c, gate=torch.ones(len(x))).host.output
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_backbone_ablation_is_the_host_alone():
    model = _model("backbone").eval()
    x, c = _bag()
    with torch.no_grad():
        out = model(x, c)
        ref = model.host(x, c)
    torch.testing.assert_close(out.host.output, ref.output)
    assert torch.equal(out.gates, torch.ones(len(x)))


def test_selector_gate_reaches_the_host():
    model = _model().eval()
    x, c = _bag()
    with torch.no_grad():
        out = model(x, c)
        ref = model.host(x, c, gate=out.gates)
    torch.testing.assert_close(out.host.output, ref.output)
    torch.testing.assert_close(out.host.attention_logits, ref.attention_logits)
    # the gate biases attention: an explicit hard gate changes the prediction
    hard = torch.zeros(len(x))
    hard[:3] = 1
    with torch.no_grad():
        sub = model(x, c, gate=hard).host
    assert torch.all(sub.attention[3:] < 1e-4)


def test_shapes_and_ranges():
    model = _model(m=7, d_a=12)
    x, c = _bag(40)
    out = model(x, c)
    assert out.gates.shape == (40,) and out.selector_logits.shape == (40,)
    assert out.responses.shape == (40, 7) and out.coverage.shape == (7,)
    assert out.host.output.shape == (2,)
    assert torch.all((out.gates > 0) & (out.gates < 1))
    assert torch.all((out.responses > 0) & (out.responses < 1))
    assert model.class_weights().shape == (2, 7)
    assert torch.all(model.class_weights() > 0)
    # coverage is the noisy-OR of the gated responses
    ref = 1 - torch.prod(1 - out.gates[:, None] * out.responses, dim=0)
    torch.testing.assert_close(out.coverage, ref, rtol=1e-5, atol=1e-6)


def test_responses_formula_with_identity_bridge():
    for bridge in ("constrained", "unconstrained"):
        model = _model(bridge=bridge)
        x, c = _bag()
        out = model(x, c)
        cos = F.normalize(x, dim=-1) @ F.normalize(model.anchors, dim=-1).T
        torch.testing.assert_close(out.responses, torch.sigmoid(8.0 * (cos - 0.15)), rtol=1e-5, atol=1e-5)


def test_coordinates_change_the_gates_but_not_their_scale():
    model = _model().eval()
    x, c = _bag()
    with torch.no_grad():
        a = model(x, c).gates
        b = model(x, c * 10 + 7).gates  # min–max normalisation per slide: same ĉ
        d = model(x, c.flip(0)).gates
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, d)


@pytest.mark.parametrize("n_epochs", [1, 2, 15])
def test_annealing_reaches_t_end_at_last_epoch(n_epochs):
    model = _model()
    model.set_epoch(0, n_epochs)
    assert float(model.temperature) == pytest.approx(1.0 if n_epochs > 1 else 0.4)
    model.set_epoch(n_epochs - 1, n_epochs)
    assert float(model.temperature) == pytest.approx(0.4)
    if n_epochs == 15:
        model.set_epoch(7, 15)
        assert float(model.temperature) == pytest.approx(0.7)
    naive = _model("naive")
    naive.set_epoch(n_epochs - 1, n_epochs)
    assert float(naive.temperature) == pytest.approx(1.0)


def test_temperature_sharpens_gates():
    model = _model().eval()
    x, c = _bag()
    with torch.no_grad():
        soft = model(x, c).gates
        model.set_epoch(14, 15)
        sharp = model(x, c).gates
    assert torch.all((sharp - 0.5).abs() >= (soft - 0.5).abs() - 1e-7)


def test_gradients_reach_selector_alpha_and_adapter():
    model = _model()
    x, c = _bag()
    out = model(x, c)
    alpha = model.class_weights()
    loss = F.cross_entropy(out.host.output[None], torch.tensor([1]))
    loss = loss + 0.1 * budget_loss(out.gates, 0.05) + 0.5 * grounding_loss(out.gates, out.responses, out.coverage, alpha[1])
    loss.backward()
    for name, p in [("selector", model.selector.net[0].weight), ("theta", model.theta), ("adapter.v", model.adapter.v)]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.theta.grad[0].abs().sum() == 0  # only the label's row is grounded
    assert model.anchors.grad is None and not model.anchors.requires_grad


def test_budget_and_grounding_losses():
    g = torch.full((10,), 0.3)
    assert float(budget_loss(g, 0.05)) == pytest.approx(0.25**2)
    assert float(budget_loss(torch.full((10,), 0.01), 0.05)) == 0.0
    r = torch.rand(10, 3)
    alpha = torch.tensor([1.0, 2.0, 0.5])
    cov = noisy_or_coverage(g, r)
    t = r @ alpha / alpha.sum()
    want = 1 - (alpha * cov).sum() / alpha.sum() + F.binary_cross_entropy(g, t)
    assert float(grounding_loss(g, r, cov, alpha)) == pytest.approx(float(want), rel=1e-5)


def test_survival_has_one_risk_row():
    model = _model(c=1, task="survival")
    x, c = _bag()
    out = model(x, c)
    assert out.host.output.shape == (1,)
    assert model.class_weights().shape == (1, 5)
    assert model.predicted_class_weights(out).shape == (5,)


def test_config_validation_and_ablation_table():
    with pytest.raises(ValueError):
        GCEConfig(ablation="nope")
    with pytest.raises(ValueError):
        GCEConfig(bridge="nope")
    assert list(ABLATIONS) == ["backbone", "naive", "budget", "recovery", "grounding", "full"]
    assert GCEConfig(ablation="naive").uses_budget is False
    assert GCEConfig().uses_recovery and GCEConfig().uses_annealing
    with pytest.raises(ValueError):
        build_gce(tiny_host(), np.zeros(4, np.float32))


def test_to_config_is_json_and_carries_digest():
    import json

    model = _model(d_a=9)
    cfg = json.loads(json.dumps(model.to_config()))
    assert cfg["gce"]["anchor_digest"] == "abc"
    assert cfg["gce"]["n_anchors"] == 5 and cfg["gce"]["anchor_dim"] == 9
    assert cfg["host"] == "tiny_abmil"
    assert GCEConfig.from_dict(cfg["gce"]) == model.config
