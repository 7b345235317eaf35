"""Explanation losses (docs/explanations.md §4): hand-computed values, zero when the evidence is inside A."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.models.base import HostConfig
from core.models.registry import build_host
from core.train.explanation_loss import (
    explanation_objective,
    kl,
    log_prob_target,
    outside_mass,
    rrr,
)
from core.train.objective import host_objective


def _f(v) -> float:
    return float(v.detach()) if torch.is_tensor(v) else float(v)

def test_outside_mass_hand_values() -> None:
    s = torch.tensor([0.5, 0.3, 0.2])
    m = torch.tensor([True, False, False])
    assert _f(outside_mass(s, m)) == pytest.approx(0.5, abs=1e-6)
    # unnormalised scores (gates) give the same fraction
    assert _f(outside_mass(2 * s, m)) == pytest.approx(0.5, abs=1e-6)
    assert _f(outside_mass(torch.tensor([0.7, 0.3, 0.0]), torch.tensor([True, True, False]))) == pytest.approx(0.0, abs=1e-6)
    assert _f(outside_mass(torch.tensor([0.0, 0.0, 1.0]), m)) == pytest.approx(1.0, abs=1e-6)


def test_kl_hand_values_and_zero_at_uniform_inside() -> None:
    m = torch.tensor([True, True, False, False])
    assert _f(kl(torch.tensor([0.5, 0.5, 0.0, 0.0]), m)) == pytest.approx(0.0, abs=1e-6)
    a = torch.tensor([0.25, 0.25, 0.25, 0.25])
    # q = (1/2, 1/2, 0, 0): Σ q log(q/a) = log 2
    assert _f(kl(a, m)) == pytest.approx(math.log(2), abs=1e-5)
    b = torch.tensor([0.4, 0.1, 0.3, 0.2])
    want = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.1)
    assert _f(kl(b, m)) == pytest.approx(want, abs=1e-5)


def test_rrr_hand_value_and_zero_when_gradient_inside() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], requires_grad=True)
    w = torch.tensor([[1.0, -2.0], [0.0, 0.0], [3.0, 1.0]])
    logp = (w * x).sum()  # ∂/∂x = w
    mask = torch.tensor([True, False, False])
    assert _f(rrr(logp, x, mask)) == pytest.approx(9.0 + 1.0, abs=1e-6)
    assert _f(rrr((w * x).sum(), x, torch.tensor([True, True, True]))) == 0.0
    # the penalty is differentiable (create_graph): d/dθ of Σ_{outside} (θ x)^2 ... via a weight
    theta = torch.tensor(2.0, requires_grad=True)
    y = (theta * x ** 2).sum()  # ∂y/∂x = 2θx; outside rows 1, 2
    pen = rrr(y, x, mask)
    (g,) = torch.autograd.grad(pen, theta)
    outside = x.detach()[1:]
    assert _f(g) == pytest.approx(_f((8 * 2.0 * outside ** 2).sum()), rel=1e-5)


def test_log_prob_target() -> None:
    out = torch.tensor([1.0, 2.0])
    assert _f(log_prob_target("classification", out, torch.tensor(1))) == pytest.approx(
        2.0 - math.log(math.exp(1) + math.exp(2)), abs=1e-6)
    assert _f(log_prob_target("survival", torch.tensor([0.7]), torch.tensor([1.0, 1.0]))) == pytest.approx(0.7)


def _host() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_host("abmil", HostConfig(in_dim=4, n_outputs=2, hidden=8, attn_hidden=4, dropout=0.0,
                                          task="classification"))


@pytest.mark.parametrize("kind", ["outside-mass", "kl", "rrr"])
def test_objective_adds_the_loss_only_on_masked_bags(kind: str) -> None:
    model = _host()
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    c = torch.zeros(6, 2, dtype=torch.long)
    y = torch.tensor(1)
    base = host_objective("classification")
    mask = np.array([True, False, False, True, False, False])
    obj = explanation_objective(base, "classification", kind, 2.0, {"a": mask, "empty": np.zeros(6, bool)})
    base_loss, _ = base(model, x, c, y)
    obj.set_bag("a", None)
    loss, out = obj(model, x, c, y)
    out_base = model(x, c)
    a = out_base.attention.detach()
    if kind == "outside-mass":
        want = _f(a[~torch.from_numpy(mask)].sum())
    elif kind == "kl":
        want = _f(kl(a, torch.from_numpy(mask)))
    else:
        xr = x.clone().requires_grad_(True)
        want = _f(rrr(log_prob_target("classification", model(xr, c).output, y), xr, torch.from_numpy(mask)))
    assert want > 0
    assert _f(loss) == pytest.approx(_f(base_loss) + 2.0 * want, rel=1e-4)
    assert out.shape == (2,)
    loss.backward()  # differentiable in the weights
    for sid in ("empty", "unannotated"):  # empty mask / no annotation: task loss only
        obj.set_bag(sid, None)
        assert _f(obj(model, x, c, y)[0]) == pytest.approx(_f(base_loss), rel=1e-6)
    obj.set_bag("a", np.array([0, 1, 2]))  # the trainer's subsample picks the mask rows
    l3, _ = obj(model, x[:3], c[:3], y)
    a3 = model(x[:3], c[:3]).attention.detach()
    if kind == "outside-mass":
        assert _f(l3) == pytest.approx(_f(base(model, x[:3], c[:3], y)[0]) + 2.0 * _f(a3[1:].sum()), rel=1e-4)
    obj.set_bag("a", None)
    with torch.inference_mode():  # evaluation: task loss only
        assert _f(obj(model, x, c, y)[0]) == pytest.approx(_f(base_loss), rel=1e-5)


def test_outside_mass_training_moves_attention_inside() -> None:
    """λ > 0 shifts the attention mass into the annotation (compared with λ = 0, same seed)."""
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(2))
    c = torch.zeros(10, 2, dtype=torch.long)
    y = torch.tensor(1)
    mask = np.zeros(10, bool)
    mask[[7, 8]] = True
    result = {}
    for lam in (0.0, 5.0):
        model = _host()
        obj = explanation_objective(host_objective("classification"), "classification", "outside-mass", lam, {"a": mask})
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(30):
            obj.set_bag("a", None)
            opt.zero_grad()
            obj(model, x, c, y)[0].backward()
            opt.step()
        with torch.no_grad():
            result[lam] = _f(model(x, c).attention[torch.from_numpy(mask)].sum())
    assert result[5.0] > result[0.0] + 0.2
    assert result[5.0] > 0.8


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown explanation loss"):
        explanation_objective(host_objective("classification"), "classification", "bogus", 1.0, {})


@pytest.mark.parametrize("host", ["abmil", "clam_sb", "transmil", "dsmil", "dtfd"])
@pytest.mark.parametrize("kind", ["outside-mass", "kl", "rrr"])
def test_every_host_trains_with_every_loss(host: str, kind: str) -> None:
    """The loss is positive with attention/gradient outside A and back-propagates (TransMIL rrr: double backward)."""
    torch.manual_seed(0)
    model = build_host(host, HostConfig(in_dim=6, n_outputs=2, hidden=8, attn_hidden=4, dropout=0.0,
                                        task="classification"))
    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(3))
    c = torch.stack([torch.arange(12) * 256, torch.zeros(12, dtype=torch.long)], 1)
    y = torch.tensor(1)
    mask = np.zeros(12, bool)
    mask[:3] = True
    base = host_objective("classification")
    obj = explanation_objective(base, "classification", kind, 1.0, {"a": mask})
    obj.set_bag("a", None)
    torch.manual_seed(1)
    loss, _ = obj(model, x, c, y)
    torch.manual_seed(1)
    base_loss, _ = base(model, x, c, y)
    assert _f(loss) > _f(base_loss)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_gce_loss_is_on_the_gates() -> None:
    """With a GCE model the outside-mass term is computed on its gates, not on the host's attention."""
    from core.models.gce import build_gce

    torch.manual_seed(0)
    host = build_host("abmil", HostConfig(in_dim=6, n_outputs=2, hidden=8, attn_hidden=4, dropout=0.0,
                                          task="classification"))
    model = build_gce(host, np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32))
    model.eval()
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(4))
    c = torch.stack([torch.arange(10) * 256, torch.zeros(10, dtype=torch.long)], 1)
    y = torch.tensor(0)
    mask = np.zeros(10, bool)
    mask[[2, 5]] = True
    base = model.objective("classification")
    obj = explanation_objective(base, "classification", "outside-mass", 3.0, {"a": mask})
    obj.set_bag("a", None)
    loss, _ = obj(model, x, c, y)
    out = model(x, c)
    want = _f(outside_mass(out.gates, torch.from_numpy(mask)))
    assert want != pytest.approx(_f(outside_mass(out.host.attention, torch.from_numpy(mask))), abs=1e-3)
    assert _f(loss) == pytest.approx(_f(base(model, x, c, y)[0]) + 3.0 * want, rel=1e-4)
