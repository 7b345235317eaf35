"""The CUDA paths give the CPU's numbers: engine, explainers, GCE recovery, cost modes.

Run where a CUDA device exists (``pytest -m gpu``); skipped elsewhere. Each test builds the same
model on both devices and compares outputs, so a device mismatch anywhere in the path fails here.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from testkit.explain import abmil, bag, gce, mixer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = torch.device("cuda")


def _pair(model):
    return model, copy.deepcopy(model).to(CUDA).eval()


@pytest.mark.parametrize("make", [lambda: gce(abmil()), abmil, mixer, lambda: gce(mixer())],
                         ids=["gce_abmil", "abmil", "mixer", "gce_mixer"])
def test_intervention_engine_matches_cpu(make):
    from core.diagnostics.interventions import InterventionEngine

    cpu, gpu = _pair(make())
    x, c = bag(300)
    a, b = InterventionEngine(cpu, x, c), InterventionEngine(gpu, x, c, device=CUDA)
    assert b.x.device.type == "cuda"
    np.testing.assert_allclose(b.probs_before, a.probs_before, atol=1e-5)
    for idx in ([0, 5, 7], np.arange(0, 300, 2), [299]):
        for op in ("keep_only", "remove"):
            ra, rb = getattr(a, op)(idx), getattr(b, op)(idx)
            assert rb.phi_after == pytest.approx(ra.phi_after, abs=1e-5)
            if ra.attention_after is not None:
                np.testing.assert_allclose(rb.attention_after, ra.attention_after, atol=1e-5)


@pytest.mark.parametrize("method", ["attention", "gradient", "grad_input", "ig", "single", "leave_one_out", "lrp",
                                    "gce_gate", "gce_subset", "random"])
def test_explainers_match_cpu(method):
    from core.explain.registry import build_explainer

    cpu, gpu = _pair(gce(abmil()))
    x, c = bag(120)
    a = build_explainer(method, cpu).attribute(x, c)
    b = build_explainer(method, gpu, device=CUDA).attribute(x, c)
    assert isinstance(b, np.ndarray) and b.shape == (120,)
    np.testing.assert_allclose(b, a, atol=1e-4, rtol=1e-4)


def test_gce_recovery_matches_cpu():
    from core.models.subset_rules import gce_evidence

    cpu, gpu = _pair(gce(abmil()))
    x, c = bag(500)
    with torch.no_grad():
        ra, _ = gce_evidence(cpu, torch.from_numpy(x), torch.from_numpy(c).float())
        rb, _ = gce_evidence(gpu, torch.from_numpy(x).to(CUDA), torch.from_numpy(c).float().to(CUDA))
    assert np.array_equal(ra.indices, rb.indices) and ra.stop_reason == rb.stop_reason


def test_cost_modes_on_cuda_measure_device_memory():
    from core.diagnostics.cost import cost_modes

    _, gpu = _pair(gce(abmil()))
    x, c = bag(4000)
    res = cost_modes(gpu, torch.from_numpy(x).to(CUDA), torch.from_numpy(c).float().to(CUDA), repeats=2)
    assert set(res) == {"full", "soft", "discrete"}
    assert res["full"]["bytes"] > 0 and res["discrete"]["bytes"] < res["soft"]["bytes"]


def test_viewer_predictor_runs_on_cuda_and_leaves_the_model_on_cpu():
    from core.review.intervene import InterventionRequest, Predictor

    model = gce(abmil())
    x, c = bag(200)
    cpu = Predictor(model, x, c, device="cpu").run(InterventionRequest("remove", np.arange(10)))
    pred = Predictor(model, x, c, device="cuda")
    gpu = pred.run(InterventionRequest("remove", np.arange(10)))
    assert gpu.device.startswith("cuda") and pred.engine.x.device.type == "cuda"
    assert next(model.parameters()).device.type == "cpu"
    assert gpu.phi_after == pytest.approx(cpu.phi_after, abs=1e-5)
    assert gpu.necessity_drop == pytest.approx(cpu.necessity_drop, abs=1e-5)


def test_explain_command_on_cuda_matches_cpu(tmp_path):
    from core.cli import main
    from core.data.bag import FeatureBag
    from core.data.bags import write_bag
    from core.evidence.evidence_file import read_evidence
    from core.models.checkpoint import save_checkpoint

    model = gce(abmil())
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": ["a", "b", "c"]})
    x, c = bag(150)
    f = tmp_path / "s.h5"
    write_bag(f, FeatureBag(x, c, 256, "s"))
    for dev in ("cpu", "cuda"):
        assert main(["explain", "--model", str(ckpt), "--features", str(f), "--methods", "attention,ig,single,lrp",
                     "--out", str(tmp_path / dev), "--device", dev]) == 0
    a, b = (read_evidence(tmp_path / d / "s.evidence.h5") for d in ("cpu", "cuda"))
    np.testing.assert_allclose(b.probs, a.probs, atol=1e-5)
    for m in a.scores:
        np.testing.assert_allclose(b.scores[m], a.scores[m], atol=1e-4, rtol=1e-4)
