"""Explanation methods: fast paths vs naive loops, IG vs Captum, LRP conservation, hand-set values."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core.errors import EvidentError
from core.explain.leave_one_out import LeaveOneOutExplainer
from core.explain.lrp import LRPExplainer
from core.explain.registry import EXPLAINERS, build_explainer
from core.explain.single import SingleExplainer
from testkit.explain import abmil, bag, gce, mixer


@pytest.mark.parametrize("wrap", [False, True])
def test_single_and_loo_fast_paths_equal_naive_loops(wrap):
    model = gce(abmil()) if wrap else abmil()
    x, c = bag(30)
    for cls in (SingleExplainer, LeaveOneOutExplainer):
        fast, naive = cls(model), cls(model, fast=False)
        assert fast.fast and not naive.fast
        for target in (None, 2):
            a, b = fast.attribute(x, c, target=target), naive.attribute(x, c, target=target)
            assert np.abs(a - b).max() <= 1e-5
            assert np.abs(a).max() > 1e-3


def test_loo_closed_form_stable_when_one_patch_holds_all_attention():
    model = abmil()
    with torch.no_grad():
        model.attention.w.weight.zero_()
        model.attention.w.bias.zero_()
    x, c = bag(6)
    ex = LeaveOneOutExplainer(model)
    ctx = ex.prepare(x, c)
    ctx.gates = torch.tensor([1.0] + [1e-12] * 5)  # patch 0 holds nearly all the attention
    fast = ex._scores(ctx)
    ex.fast = False
    np.testing.assert_allclose(fast.numpy(), ex._scores(ctx).numpy(), atol=1e-5)


def test_cross_patch_host_uses_real_forwards():
    model = mixer()
    x, c = bag(9)
    loo = build_explainer("loo", model).attribute(x, c)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        out = model(xt).output
        t = int(out.argmax())
        ref = [float(out[t] - model(torch.cat([xt[:k], xt[k + 1:]])).output[t]) for k in range(9)]
        single_ref = [float(model(xt[k:k + 1]).output[t]) for k in range(9)]
    np.testing.assert_allclose(loo, ref, atol=1e-6)
    np.testing.assert_allclose(build_explainer("single", model).attribute(x, c), single_ref, atol=1e-6)


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("method", ["riemann_middle", "gausslegendre"])
def test_integrated_gradients_matches_captum_one_bag_per_step(wrap, method):
    from captum.attr import IntegratedGradients

    model = gce(abmil()) if wrap else abmil()
    x, c = bag(25)
    ex = build_explainer("ig", model, method=method)
    ours = ex.attribute(x, c, target=1)
    ctx = ex.prepare(x, c, 1)

    def forward(batch):  # (B, N, D) -> (B,): one bag per row
        return torch.stack([ex.host(b, ctx.coords, gate=ctx.gates).output[1] for b in batch])

    ref = IntegratedGradients(forward).attribute(
        torch.from_numpy(x)[None], baselines=torch.zeros(1, *x.shape), n_steps=50, method=method,
        internal_batch_size=1)
    ref = ref[0].sum(1).detach().numpy()
    assert np.abs(ours - ref).max() <= 1e-4
    with torch.no_grad():  # completeness: Σ IG ≈ f(X) − f(0)
        gap = float(ex.f(ctx.x, ctx.coords, ctx.gates, 1) - ex.f(0 * ctx.x, ctx.coords, ctx.gates, 1))
    assert ours.sum() == pytest.approx(gap, abs=0.02 * abs(gap) + 1e-3)


@pytest.mark.parametrize("wrap", [False, True])
def test_lrp_conserves_the_real_logit(wrap):
    """Changed with the xMIL rule (biases out of the denominators only): the relevances sum to the real
    logit f_c, no longer to f̃ (every bias zeroed, the previous rule)."""
    model = gce(abmil(seed=3)) if wrap else abmil(seed=3)
    x, c = bag(40)
    ex = LRPExplainer(model)
    ctx = ex.prepare(x, c)
    r = ex.relevance(ctx)
    assert float(r.logit) == pytest.approx(float(ctx.output[ctx.target]), rel=1e-6)
    assert float(r.patches.sum()) == pytest.approx(float(r.logit), rel=1e-4, abs=1e-5)
    # f̃ by hand (the host with every bias zeroed, pooled with the real attention) is not what is conserved
    host = ex.host
    with torch.no_grad():
        a = host(ctx.x, ctx.coords, gate=ctx.gates).attention
        nb = copy.deepcopy(host)
        for name, p in nb.named_parameters():
            if name.endswith("bias"):
                p.zero_()
        e, _ = nb.embed(ctx.x)
        f_tilde = float(nb.head(a @ e)[ctx.target])
    assert abs(float(r.patches.sum()) - f_tilde) > 1e-3
    # module forwards are restored afterwards
    with torch.no_grad():
        assert torch.allclose(host(ctx.x, ctx.coords, gate=ctx.gates).output, ctx.output)


def test_ig_quadratures_differ_and_bad_methods_are_refused():
    model = abmil(seed=2)
    x, c = bag(20, seed=2)
    mid = build_explainer("ig", model, n_steps=5).attribute(x, c)
    gl = build_explainer("ig", model, n_steps=5, method="gausslegendre").attribute(x, c)
    assert np.abs(mid - gl).max() > 1e-6  # different nodes at 5 steps
    with pytest.raises(EvidentError, match="unknown integrated-gradients method 'simpson'"):
        build_explainer("ig", model, method="simpson")
    with pytest.raises(EvidentError, match="at least 1 step"):
        build_explainer("ig", model, n_steps=0)


def _hand_set_model():
    """ABMIL with identity embedding, constant attention (a = 1/N) and identity classifier + bias."""
    model = abmil(d=2, c=2, hidden=2)
    with torch.no_grad():
        model.fc[0].weight.copy_(torch.eye(2))
        model.fc[0].bias.zero_()
        model.attention.w.weight.zero_()
        model.attention.w.bias.zero_()
        model.classifier.weight.copy_(torch.eye(2))
        model.classifier.bias.copy_(torch.tensor([0.5, -0.25]))
    return model


def test_exact_values_on_a_hand_set_model():
    model = _hand_set_model()
    x = np.array([[2.0, -1.0], [1.0, 3.0], [-1.0, 1.0], [4.0, 0.5]], dtype=np.float32)
    n, t = 4, 0
    relu = np.maximum(x[:, t], 0)
    f = relu.mean() + 0.5
    expect = {
        "attention": np.full(n, 0.25),
        "gradient": (relu > 0) / n**2,
        "grad_input": relu / n,
        "ig": relu / n,
        # the whole real logit f (bias 0.5 included) goes to the patches in proportion to their
        # bias-free contributions relu/n (it was relu/n, summing to f − 0.5, before the xMIL rule)
        "lrp": relu / relu.sum() * f,
        "single": relu + 0.5,
        "leave_one_out": f - np.array([(relu.sum() - relu[k]) / 3 + 0.5 for k in range(n)]),
    }
    for name, want in expect.items():
        got = build_explainer(name, model).attribute(x, None, target=t)
        assert got.dtype == np.float32 and got.shape == (n,)
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=name)


def test_gce_scores_random_and_errors():
    model = gce(abmil())
    x, c = bag(16)
    gates = build_explainer("gate", model).attribute(x, c)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(c).float()).gates.numpy()
    np.testing.assert_allclose(gates, ref, atol=1e-7)
    sub = build_explainer("gce_subset", model).attribute(x, c)
    assert set(np.unique(sub)) <= {0.0, 1.0} and sub.sum() >= 1
    r1, r2 = build_explainer("random", model).attribute(x, c), build_explainer("random", model).attribute(x, c)
    np.testing.assert_array_equal(r1, r2)
    assert r1.std() > 0.3
    with pytest.raises(EvidentError, match="unknown explanation method 'nope'"):
        build_explainer("nope", model)
    with pytest.raises(EvidentError, match="target 3 out of range"):
        build_explainer("gradient", model).attribute(x, c, target=3)
    with pytest.raises(EvidentError, match="needs a GCE model"):
        build_explainer("gce_gate", abmil())
    with pytest.raises(EvidentError, match="not supported for host 'tiny_mixer'"):
        build_explainer("lrp", mixer())


def test_every_method_gives_one_finite_score_per_patch():
    model = gce(abmil())
    x, c = bag(11)
    for name in EXPLAINERS:
        s = build_explainer(name, model).attribute(x, c)
        assert s.shape == (11,) and np.isfinite(s).all(), name
