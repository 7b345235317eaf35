"""Task losses: Cox partial likelihood (Breslow ties) against a hand computation, CE, MSE."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.models.losses import cox_ph_loss, task_loss


def test_cox_breslow_ties_by_hand() -> None:
    risk = torch.tensor([0.5, 1.0, -0.2, 0.3], dtype=torch.float64)
    time = torch.tensor([2.0, 2.0, 5.0, 1.0])
    event = torch.tensor([1, 1, 0, 1])
    # subjects 0 and 1 die at t=2 together: both share the risk set {0, 1, 2}; subject 3 (t=1) has all
    den_t2 = math.log(math.exp(0.5) + math.exp(1.0) + math.exp(-0.2))
    den_t1 = math.log(math.exp(0.5) + math.exp(1.0) + math.exp(-0.2) + math.exp(0.3))
    expected = -((0.5 - den_t2) + (1.0 - den_t2) + (0.3 - den_t1)) / 3
    assert float(cox_ph_loss(risk, time, event)) == pytest.approx(expected, rel=1e-12)


def test_cox_single_bag_is_zero_and_no_event_gives_zero_with_graph() -> None:
    r = torch.tensor([0.7], requires_grad=True)
    assert float(cox_ph_loss(r.detach(), torch.tensor([3.0]), torch.tensor([1]))) == 0.0
    loss = cox_ph_loss(r * 2, torch.tensor([3.0]), torch.tensor([0]))
    loss.backward()
    assert loss.item() == 0.0 and r.grad is not None


def test_cox_prefers_correct_ordering() -> None:
    time = torch.tensor([1.0, 2.0, 3.0])
    event = torch.tensor([1, 1, 1])
    good = cox_ph_loss(torch.tensor([2.0, 1.0, 0.0]), time, event)
    bad = cox_ph_loss(torch.tensor([0.0, 1.0, 2.0]), time, event)
    assert float(good) < float(bad)


def test_task_loss_dispatch() -> None:
    logits = torch.tensor([0.2, -1.0, 0.5])
    assert float(task_loss("classification", logits, torch.tensor(2))) == pytest.approx(
        float(F.cross_entropy(logits[None], torch.tensor([2]))))
    batch = torch.tensor([[0.2, -1.0], [1.0, 0.0]])
    assert float(task_loss("classification", batch, torch.tensor([1, 0]))) == pytest.approx(
        float(F.cross_entropy(batch, torch.tensor([1, 0]))))
    assert float(task_loss("regression", torch.tensor([1.5]), torch.tensor([0.5]))) == pytest.approx(1.0)
    surv = task_loss("survival", torch.tensor([[0.5], [1.0]]), torch.tensor([[1.0, 1.0], [2.0, 1.0]]))
    assert float(surv) == pytest.approx(float(cox_ph_loss(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 2.0]),
                                                          torch.tensor([1, 1]))))
    with pytest.raises(ValueError, match="unknown task"):
        task_loss("ranking", logits, torch.tensor(0))
