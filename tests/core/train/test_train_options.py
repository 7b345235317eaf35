"""Training options of ``evident train``: learning-rate warm-up, weight averaging, class-balanced sampling."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.cli import build_parser
from core.models.registry import build_host
from core.train.cohort import TrainBag
from core.train.objective import host_objective
from core.train.trainer import TrainConfig, average_states, epoch_order, lr_scheduler, train_model
from testkit.train import synthetic_bags, tiny_config


def _rates(n_steps: int, warmup: int) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = lr_scheduler(opt, n_steps, warmup)
    rates = []
    for _ in range(n_steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_warmup_rises_linearly_to_the_peak_then_decays_by_cosine() -> None:
    rates = _rates(10, 4)
    assert rates[:4] == pytest.approx([0.125, 0.25, 0.375, 0.5])  # peak · (s+1)/w
    assert rates[4] == pytest.approx(0.5)
    assert rates[4:] == pytest.approx([0.25 * (1 + math.cos(math.pi * k / 6)) for k in range(6)])
    assert all(a > b for a, b in zip(rates[4:], rates[5:]))


def test_no_warmup_is_the_cosine_schedule_used_before() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    assert isinstance(lr_scheduler(opt, 10, 0), torch.optim.lr_scheduler.CosineAnnealingLR)
    assert _rates(10, 0) == pytest.approx([0.25 * (1 + math.cos(math.pi * k / 10)) for k in range(10)])


def test_balanced_sampling_draws_every_class_equally_often() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    rng = np.random.default_rng(0)
    drawn = np.concatenate([labels[epoch_order(labels, rng, True)] for _ in range(200)])
    assert abs(drawn.mean() - 0.5) < 0.02  # 10% of the bags, half of the draws
    plain = epoch_order(labels, np.random.default_rng(0), False)
    assert sorted(plain.tolist()) == list(range(100))  # a permutation: each bag once


def test_average_states_is_the_elementwise_mean() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(4)}
    avg = average_states([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and int(avg["n"]) == 4


def _bags() -> list[TrainBag]:
    feats, labels = synthetic_bags(12, seed=1)
    return [TrainBag(f"s{i}", f"c{i}", torch.from_numpy(x), torch.zeros(len(x), 2, dtype=torch.int64),
                     torch.tensor(y)) for i, (x, y) in enumerate(zip(feats, labels, strict=True))]


def _train(config: TrainConfig, val: list[TrainBag]) -> tuple[torch.nn.Module, list[dict]]:
    torch.manual_seed(0)
    cfg = replace(tiny_config(), in_dim=8, n_outputs=2)
    model, snaps = build_host("abmil", cfg), []
    train_model(model, host_objective("classification"), _bags(), val, "classification", config, 0,
                torch.device("cpu"), on_epoch=lambda e: snaps.append({k: v.clone() for k, v in model.state_dict().items()}))
    return model, snaps


def test_weight_averaging_keeps_the_mean_of_the_last_epochs_weights() -> None:
    model, snaps = _train(TrainConfig(epochs=5, lr=1e-2, average_epochs=3), [])
    final = model.state_dict()
    for k, v in final.items():
        if torch.is_floating_point(v):
            assert torch.allclose(v, torch.stack([s[k] for s in snaps[-3:]]).mean(0), atol=1e-7), k
    # the epochs' own weights differ, so the mean is not the last epoch's weights
    w = next(name for name, _ in model.named_parameters())
    assert not torch.allclose(final[w], snaps[-1][w])
    # training itself went on from the epoch's own weights: the same snapshots as without averaging
    _, plain = _train(TrainConfig(epochs=5, lr=1e-2), [])
    assert all(torch.equal(a[w], b[w]) for a, b in zip(snaps, plain, strict=True))


def test_weight_averaging_with_validation_keeps_the_best_window() -> None:
    val = _bags()[:4]
    model, snaps = _train(TrainConfig(epochs=4, lr=1e-2, average_epochs=2), val)
    final = model.state_dict()
    windows = [average_states(snaps[max(0, e - 1):e + 1]) for e in range(4)]
    assert any(all(torch.allclose(final[k], win[k], atol=1e-7) for k in final if torch.is_floating_point(final[k]))
               for win in windows)


def test_options_are_cli_flags_with_the_defaults_of_train_config() -> None:
    base = ["train", "--manifest", "m.csv", "--host", "abmil", "--out", "o"]
    args = build_parser().parse_args([*base, "--warmup-epochs", "2", "--average-epochs", "3", "--balanced-sampling"])
    assert (args.warmup_epochs, args.average_epochs, args.balanced_sampling) == (2, 3, True)
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--warmup-epochs", "-1"])


def _flipped(bags: list[TrainBag]) -> list[TrainBag]:
    """The same bags with the other label: training on ``bags`` makes the validation loss on these rise."""
    return [replace(b, target=1 - b.target) for b in bags]


def _curves(config: TrainConfig, val: list[TrainBag]):
    torch.manual_seed(0)
    cfg = replace(tiny_config(), in_dim=8, n_outputs=2)
    return train_model(build_host("abmil", cfg), host_objective("classification"), _bags(), val, "classification",
                       config, 0, torch.device("cpu"))


def test_without_a_floor_a_validation_split_that_disagrees_keeps_the_untrained_first_epoch() -> None:
    curves = _curves(TrainConfig(epochs=6, lr=1e-2, min_epochs=1), _flipped(_bags()))
    assert curves.best_epoch == 0  # the planted failure the floor exists for
    assert int(np.argmin(curves.val_loss)) == 0


def test_the_kept_epoch_is_the_best_from_the_floor_on() -> None:
    curves = _curves(TrainConfig(epochs=6, lr=1e-2, min_epochs=3), _flipped(_bags()))
    assert curves.best_epoch == 2 + int(np.argmin(curves.val_loss[2:]))
    assert curves.best_epoch >= 2 and len(curves.val_loss) == 6  # earlier epochs are still monitored


def test_patience_counts_only_from_the_floor() -> None:
    val = _flipped(_bags())
    assert len(_curves(TrainConfig(epochs=10, lr=1e-2, patience=1, min_epochs=1), val).train_loss) == 3
    stopped = _curves(TrainConfig(epochs=10, lr=1e-2, patience=1, min_epochs=4), val)
    assert len(stopped.train_loss) >= 6 and stopped.best_epoch >= 3


def test_a_floor_above_the_epochs_keeps_the_last_epoch() -> None:
    curves = _curves(TrainConfig(epochs=3, lr=1e-2, min_epochs=50), _flipped(_bags()))
    assert curves.best_epoch == 2


def test_min_epochs_is_a_cli_flag_with_the_default_of_train_config() -> None:
    base = ["train", "--manifest", "m.csv", "--host", "abmil", "--out", "o"]
    assert build_parser().parse_args(base).min_epochs == TrainConfig().min_epochs
    assert build_parser().parse_args([*base, "--min-epochs", "1"]).min_epochs == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--min-epochs", "0"])
