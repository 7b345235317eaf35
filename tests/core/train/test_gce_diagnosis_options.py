"""GCE diagnosis: the attention-bias shift invariance, and the budget/grounding options (defaults = spec)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.models.gce import GCEConfig
from core.models.gce_loss import budget_loss
from core.models.losses import task_loss
from testkit.gce import abmil_gce, random_bag


def _model(**options):
    return abmil_gce(**options)


def test_constant_gate_leaves_abmil_unchanged_and_task_gradient_has_no_mean_component():
    model = _model()
    x, c = random_bag()
    with torch.no_grad():
        ref = model.host(x, c).output
        for value in (0.05, 0.34, 0.9):
            got = model.host(x, c, gate=torch.full((len(x),), value)).output
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    # gradient of the task loss w.r.t. log π: sums to 0 (only relative gate changes matter)
    log_pi = torch.full((len(x),), float(np.log(0.34)), requires_grad=True)
    loss = task_loss("classification", model.host(x, c, gate=log_pi.exp()).output, torch.tensor(1))
    (grad,) = torch.autograd.grad(loss, log_pi)
    assert grad.abs().max() > 1e-4  # the task does tell gates apart ...
    assert abs(float(grad.sum())) < 1e-5 * max(1.0, float(grad.abs().sum()))  # ... but not their level


def test_hinge_budget_is_linear_and_squared_is_default():
    g = torch.full((10,), 0.34)
    assert float(budget_loss(g, 0.05)) == pytest.approx(0.29**2)
    assert float(budget_loss(g, 0.05, "hinge")) == pytest.approx(0.29)
    assert float(budget_loss(torch.full((10,), 0.01), 0.05, "hinge")) == 0.0
    assert GCEConfig().budget_form == "squared" and GCEConfig().ground_on == "all"


def _loss(model, label):
    x, c = random_bag()
    torch.manual_seed(0)
    loss, _ = model.objective("classification")(model, x, c, torch.tensor(label))
    return loss.item()


def test_ground_on_positive_skips_grounding_on_class_0_only():
    full, pos = _model(), _model(ground_on="positive")
    no_ground = _model(lambda_ground=0.0)
    assert _loss(pos, 0) == pytest.approx(_loss(no_ground, 0), rel=1e-6)
    assert _loss(pos, 0) != pytest.approx(_loss(full, 0), rel=1e-4)
    assert _loss(pos, 1) == pytest.approx(_loss(full, 1), rel=1e-6)


def test_hinge_option_changes_the_loss_by_the_budget_term():
    sq, hinge = _model(), _model(budget_form="hinge")
    x, c = random_bag()
    with torch.no_grad():
        mean_gate = float(sq(x, c).gates.mean())
    want = 0.1 * (max(mean_gate - 0.05, 0) - max(mean_gate - 0.05, 0) ** 2)
    assert _loss(hinge, 1) - _loss(sq, 1) == pytest.approx(want, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("bad", [{"budget_form": "cubic"}, {"ground_on": "negative"}])
def test_bad_options_are_rejected(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        GCEConfig(**bad)


def test_options_survive_the_config_round_trip_and_old_configs_get_defaults():
    model = _model(ground_on="positive", budget_form="hinge")
    cfg = json.loads(json.dumps(model.to_config()))
    assert GCEConfig.from_dict(cfg["gce"]) == model.config
    old = {k: v for k, v in cfg["gce"].items() if k not in ("ground_on", "budget_form")}
    assert GCEConfig.from_dict(old) == GCEConfig()


def test_quantile_centre_puts_about_rho_of_the_gates_above_one_half():
    x, c = random_bag(n=200)
    with torch.no_grad():
        const = _model()(x, c).gates
        quant = _model(nu_mode="quantile", budget=0.1)(x, c).gates
    assert GCEConfig().nu_mode == "constant"
    assert abs(float((quant >= 0.5).float().mean()) - 0.1) <= 0.01
    # same selector scores: the ranking of the gates is unchanged, only their level moves
    assert torch.equal(torch.argsort(const), torch.argsort(quant))
    with pytest.raises(ValueError, match="nu_mode"):
        GCEConfig(nu_mode="median")
