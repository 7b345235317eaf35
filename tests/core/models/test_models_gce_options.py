"""The contrastive coverage and recovery-loss options of GCEConfig (defaults = docs/method.md)."""

from __future__ import annotations

import pytest
import torch

from core.evidence.recovery import recover
from core.models.gce import GCEConfig
from core.models.gce_loss import grounding_loss
from core.models.losses import task_loss
from testkit.gce import abmil_gce, random_bag


def _model(**options):
    model = abmil_gce(**options)
    with torch.no_grad():  # distinct class weights, so that the two classes' utilities differ
        model.theta.copy_(torch.tensor([[0.5, -1.0, 0.2, 1.0, 0.0], [-0.5, 1.5, 0.3, -1.0, 0.7]]))
    return model


def test_defaults_are_the_spec():
    cfg = GCEConfig()
    assert cfg.coverage_loss == "label" and cfg.recovery_weight == 0.0
    with pytest.raises(ValueError, match="coverage_loss"):
        GCEConfig(coverage_loss="other")
    with pytest.raises(ValueError, match="recovery_weight"):
        GCEConfig(recovery_weight=-1.0)


def test_contrastive_coverage_adds_the_other_classes_normalised_utility():
    torch.manual_seed(3)
    gates = torch.rand(30)
    responses = torch.rand(30, 4)
    coverage = 1 - torch.prod(1 - gates[:, None] * responses, dim=0)  # (4,)
    alpha = torch.rand(3, 4) + 0.1
    base = grounding_loss(gates, responses, coverage, alpha[1])
    got = grounding_loss(gates, responses, coverage, alpha[1], alpha[[0, 2]])
    u_bar = (alpha @ coverage) / alpha.sum(dim=1)  # (3,)
    assert float(got - base) == pytest.approx(float((u_bar[0] + u_bar[2]) / 2), abs=1e-6)
    assert float(got - base) > 0


def test_contrastive_changes_the_loss_only_through_the_other_classes():
    x, c = random_bag()
    y = torch.tensor(1)
    plain = _model(ablation="grounding")
    contr = _model(ablation="grounding", coverage_loss="contrastive")
    l_plain, _ = plain.objective("classification")(plain, x, c, y)
    l_contr, _ = contr.objective("classification")(contr, x, c, y)
    with torch.no_grad():
        out = contr(x, c)
        alpha0 = contr.class_weights()[0]
        expected = contr.config.lambda_ground * (alpha0 @ out.coverage) / alpha0.sum()
    assert float((l_contr - l_plain).detach()) == pytest.approx(float(expected), rel=1e-5)


def test_recovery_loss_is_the_task_loss_on_the_recovered_subset():
    x, c = random_bag()
    y = torch.tensor(0)
    base = _model()
    with_rec = _model(recovery_weight=2.0)
    l0, _ = base.objective("classification")(base, x, c, y)
    l1, _ = with_rec.objective("classification")(with_rec, x, c, y)
    with torch.no_grad():
        out = with_rec(x, c)
        k = int(out.host.output.argmax())
        rec = recover(out.gates.double().numpy(), out.responses.double().numpy(),
                      with_rec.class_weights()[k].double().numpy())
        idx = torch.as_tensor(rec.indices)
        hard = with_rec.host(x[idx], c[idx], gate=torch.ones(len(idx))).output
        expected = 2.0 * task_loss("classification", hard, y)
    assert 0 < len(idx) < len(x)
    assert float((l1 - l0).detach()) == pytest.approx(float(expected), rel=1e-5)


def test_recovery_loss_trains_the_host_not_the_gates_through_the_subset():
    x, c = random_bag()
    model = _model(recovery_weight=1.0, ablation="naive")  # naive: task only, + the recovery term
    model.train()
    loss, _ = model.objective("classification")(model, x, c, torch.tensor(1))
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.host.parameters())
    # the selector still learns from the soft-gated task loss (the subset itself is a detached choice)
    assert model.selector.parameters().__next__().grad is not None
