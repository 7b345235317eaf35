"""Evidence selection rules and S/N/R numbers on a tiny attention host."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics.cohort_snr import (
    cohort_snr,
    concordance_index,
    evidence_precision_recall,
    slide_outputs,
)
from core.models.gce import GCEConfig, build_gce
from core.models.subset_rules import attention_topk, gce_evidence, random_k, select, topk_count
from testkit.gce import tiny_host


def _bag(n=25, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, 999, (n, 2), generator=g)


def _gce(ablation="full"):
    torch.manual_seed(0)
    return build_gce(tiny_host(), np.random.default_rng(0).standard_normal((4, 16)), GCEConfig(ablation=ablation)).eval()


def test_slide_outputs_bare_host_drops_patches():
    host = tiny_host().eval()
    x, c = _bag()
    idx = np.array([3, 5, 9])
    row = slide_outputs(host, x, c, idx)
    keep = np.ones(25, bool)
    keep[idx] = False
    with torch.no_grad():
        np.testing.assert_allclose(row["keep"], host(x[idx], c[idx]).output.double().numpy(), rtol=1e-6)
        np.testing.assert_allclose(row["comp"], host(x[keep], c[keep]).output.double().numpy(), rtol=1e-6)
        np.testing.assert_allclose(row["full"], host(x, c).output.double().numpy(), rtol=1e-6)
    assert row["fraction"] == pytest.approx(3 / 25)
    assert slide_outputs(host, x, c, np.arange(25))["comp"] is None


def test_slide_outputs_gce_uses_soft_gates_for_full_and_hard_subset():
    model = _gce()
    x, c = _bag()
    idx = np.array([0, 1, 2])
    row = slide_outputs(model, x, c, idx)
    with torch.no_grad():
        np.testing.assert_allclose(row["full"], model(x, c).host.output.double().numpy(), rtol=1e-6)
        # X_S: the host on the subset with every gate 1 (== the host alone on the subset)
        np.testing.assert_allclose(row["keep"], model.host(x[idx], c[idx]).output.double().numpy(), rtol=1e-5)


def test_gce_evidence_follows_the_recovery_switch():
    x, c = _bag(60)
    rec, _ = gce_evidence(_gce("full"), x, c)
    assert rec.stop_reason in ("target_met", "no_gain", "cap", "unreachable_anchor")
    assert rec.indices.size >= 1
    thr, _ = gce_evidence(_gce("budget"), x, c)
    assert thr.stop_reason == "threshold_only"
    gates = _gce("budget")(x, c).gates.detach().numpy()
    expect = np.flatnonzero(gates > 0.5) if (gates > 0.5).any() else np.array([np.argmax(gates)])
    np.testing.assert_array_equal(thr.indices, expect)


def test_attention_topk_and_random():
    host = tiny_host().eval()
    x, c = _bag(40)
    k = topk_count(40, 0.05)
    assert k == 2 and topk_count(10, 0.0) == 1
    top = attention_topk(host, x, c, 5)
    with torch.no_grad():
        att = host(x, c).attention.numpy()
    assert set(top.tolist()) == set(np.argsort(-att)[:5].tolist())
    np.testing.assert_array_equal(select("random", host, x, c), random_k(40, 2))
    assert random_k(40, 2).size == 2
    with pytest.raises(ValueError):
        select("nope", host, x, c)


def test_cohort_snr_classification_by_hand():
    rows = [
        {"full": np.array([0.0, 2.0]), "keep": np.array([0.0, 1.0]), "comp": np.array([1.0, 0.0]), "fraction": 0.1},
        {"full": np.array([2.0, 0.0]), "keep": np.array([0.0, 1.0]), "comp": None, "fraction": 0.3},
    ]
    out = cohort_snr(rows, "classification", labels=[1, 0])
    assert out["metric_full"] == 1.0 and out["evidence_sufficiency"] == 0.5 and out["keep_only_drop"] == 0.5
    assert out["complement_degradation"] == 1.0  # only slide 0 has a complement; it flips
    assert out["evidence_fraction"] == pytest.approx(0.2)
    sm = lambda v: np.exp(v) / np.exp(v).sum()
    gaps = [abs(sm(rows[0]["full"])[1] - sm(rows[0]["keep"])[1]), abs(sm(rows[1]["full"])[0] - sm(rows[1]["keep"])[0])]
    assert out["cd_gap"] == pytest.approx(np.mean(gaps))
    assert out["complement_degradation_phi"] == pytest.approx(sm(rows[0]["full"])[1] - sm(rows[0]["comp"])[1])


def test_concordance_and_survival_cohort(rng):
    risk, time, event = np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1])
    assert concordance_index(risk, time, event) == 1.0
    assert concordance_index(-risk, time, event) == 0.0
    rows = [{"full": np.array([r]), "keep": np.array([r]), "comp": np.array([-r]), "fraction": 0.5} for r in risk]
    out = cohort_snr(rows, "survival", time=time, event=event)
    assert out["metric_full"] == 1.0 and out["keep_only_drop"] == 0.0 and out["cd_gap"] == 0.0
    assert out["complement_degradation"] == 1.0


def test_precision_recall():
    assert evidence_precision_recall(np.array([1, 2, 3, 4]), np.array([2, 4, 9])) == (0.5, pytest.approx(2 / 3))
    p, r = evidence_precision_recall(np.array([1]), np.array([], dtype=np.int64))
    assert p == 0.0 and np.isnan(r)
