"""The cross-validated evidence benchmark harness (tiny settings) and its Markdown table."""

from __future__ import annotations

import math

import numpy as np

from core.models.losses import task_loss
from core.models.registry import build_host
from core.train.gce_benchmark import Bag, benchmark_folds, fold_mean_std, load_dataset
from core.train.gce_reproduce import markdown_table


def _small_digits():
    bags = load_dataset("digits")
    assert len(bags) == 100 and {b.fold for b in bags} == set(range(5))
    assert all(b.truth is not None and (b.truth.size > 0) == bool(b.label) for b in bags)
    keep = [b for b in bags if b.fold in (0, 1)][:24]
    return [Bag(b.slide_id, b.features[:60], b.coords[:60], b.label,
                b.truth[b.truth < 60], b.fold) for b in keep]


def test_run_cv_reports_every_rule():
    bags = _small_digits()
    kw = {"build_host": build_host, "task_loss": task_loss, "epochs": 1, "lr": 1e-3, "n_anchors": 4,
          "host_kwargs": {"hidden": 16, "attn_hidden": 8}}
    plain = benchmark_folds(bags, "abmil", gce=False, **kw)
    gce = benchmark_folds(bags, "abmil", gce=True, **kw)
    assert [f["fold"] for f in gce] == [0, 1]
    for f in gce:
        assert 0 <= f["accuracy"] <= 1
        for rule in ("gce", "attention_matched", "attention", "random"):
            assert 0 < f[f"{rule}/evidence_fraction"] <= 1
            assert f[f"{rule}/cd_gap"] >= 0
        assert math.isclose(sum(v for k, v in f.items() if k.startswith("gce/stop/")), 1.0)
    assert "gce/cd_gap" not in plain[0] and "attention/precision" in plain[0]
    s = fold_mean_std(gce)
    assert s["accuracy"][0] == np.mean([f["accuracy"] for f in gce])
    table = markdown_table([
        {"dataset": "digits", "host": "abmil", "gce": False, "summary": fold_mean_std(plain)},
        {"dataset": "digits", "host": "abmil", "gce": True, "summary": s},
    ])
    lines = table.splitlines()
    assert len(lines) == 2 + 4 and "GCE discrete" in table and "attention top-5%" in table


def test_real_mil_sets_load(real_data):
    musk = load_dataset("musk1")
    assert len(musk) == 92 and musk[0].features.shape[1] == 166
    assert {b.label for b in musk} == {0, 1} and all(b.truth is None for b in musk)
    allf = np.concatenate([b.features for b in musk])
    np.testing.assert_allclose(allf.mean(0), 0, atol=1e-4)


def test_host_alone_attention_at_the_gce_k_of_each_bag():
    import pytest

    from core.train.gce_benchmark import evaluate_fold

    bags = _small_digits()
    kw = {"build_host": build_host, "task_loss": task_loss, "epochs": 1, "lr": 1e-3, "n_anchors": 4,
          "host_kwargs": {"hidden": 16, "attn_hidden": 8}}
    gce = benchmark_folds(bags, "abmil", gce=True, **kw)
    plain = benchmark_folds(bags, "abmil", gce=False, matched_k={"prototypes": gce}, **kw)
    for g, h in zip(gce, plain):
        test = [b for b in bags if b.fold == g["fold"]]
        assert len(g["gce/k"]) == len(test) and all(k >= 1 for k in g["gce/k"])
        # same k per bag -> the same evidence fraction as GCE's subsets, from the host's own attention
        assert h["host_k/prototypes/evidence_fraction"] == pytest.approx(g["gce/evidence_fraction"])
        assert h["host_k/prototypes/cd_gap"] >= 0 and "host_k/prototypes/precision" in h
    s = fold_mean_std(plain)
    assert "gce/k" not in fold_mean_std(gce) and "host_k/prototypes/complement_degradation" in s
    table = markdown_table([{"dataset": "digits", "host": "abmil", "gce": False, "summary": s}])
    assert "attention top-k (k of GCE prototypes)" in table and len(table.splitlines()) == 2 + 3
    with pytest.raises(ValueError, match="3 sizes for"):
        from core.models.base import HostConfig

        evaluate_fold(build_host("abmil", HostConfig(in_dim=bags[0].features.shape[1], n_outputs=2)).eval(),
                      bags[:4], gce=False, matched_k={"x": [1, 2, 3]})


def test_fold_model_fits_every_host_input_norm_transmil_included():
    """TransMIL keeps its standardisation in ``norm_in``: the fold's model is fitted there too."""
    from core.train.gce_benchmark import fold_model

    rng = np.random.default_rng(0)
    train = [Bag(f"s{i}", (rng.normal(3.0, 2.0, (20, 8))).astype(np.float32), np.zeros((20, 2), np.int64), i % 2,
                 None, 0) for i in range(4)]
    feats = np.concatenate([b.features for b in train])
    for host_name, attr in (("abmil", "norm"), ("transmil", "norm_in")):
        model, _ = fold_model(train, host_name, gce=False, build_host=build_host, task_loss=task_loss,
                              host_kwargs={"hidden": 16, "attn_hidden": 8})
        np.testing.assert_allclose(getattr(model, attr).mean.numpy(), feats.mean(axis=0), rtol=1e-5)
