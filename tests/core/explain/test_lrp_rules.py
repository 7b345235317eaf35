"""xMIL-LRP on every host: the real forward is kept, the real logit is conserved, and the relevances
equal a port of xMIL's layer-wise LRP (tests/core/explain/xmil_lrp_port.py, from xMIL commit 1d29edf)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xmil_lrp_port as port

from core.errors import EvidentError
from core.explain.base import BagContext
from core.explain.lrp import LRPExplainer, lrp_mode
from core.models.base import HostConfig
from core.models.registry import HOSTS, build_host
from testkit.explain import bag, gce

VARIANTS = [("abmil", ()), ("clam_sb", ()), ("dsmil", ()), ("dsmil", (("average", True),)),
            ("dtfd", ()), ("dtfd", (("distill", "afs"),)),
            ("transmil", (("attention", "full"),)), ("transmil", (("attention", "nystrom"),))]


def _host(name: str, extra: tuple = (), seed: int = 0, hidden: int = 8):
    torch.manual_seed(seed)
    if name == "transmil":
        extra = (("heads", 2), ("landmarks", 4), *extra)
    cfg = HostConfig(in_dim=6, n_outputs=3, hidden=hidden, attn_hidden=4, dropout=0.0, extra=extra)
    return build_host(name, cfg).eval()


def test_every_host_supports_lrp():
    assert all(cls.lrp_attention is not None for cls in HOSTS.values())


@pytest.mark.parametrize("name,extra", VARIANTS)
@pytest.mark.parametrize("wrap", [False, True])
def test_lrp_mode_keeps_the_real_forward(name, extra, wrap):
    """Under the LRP rules every layer keeps its real output, so attention and logits are the real ones."""
    host = _host(name, extra)
    model = gce(host) if wrap else host
    x, c = bag(40)
    ex = LRPExplainer(model, variant="conserving")
    ctx = ex.prepare(x, c)
    with torch.no_grad(), lrp_mode(host):
        out = host(ctx.x, ctx.coords, gate=ctx.gates)
    real = host(ctx.x, ctx.coords, gate=ctx.gates)
    np.testing.assert_allclose(out.output.numpy(), real.output.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.attention.numpy(), real.attention.detach().numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,extra", VARIANTS)
@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_relevance_sums_to_the_real_logit(name, extra, wrap, seed):
    """Σ_i R_i + R_const = f_c, the real explained logit (R_const: TransMIL's class token, else 0)."""
    host = _host(name, extra, seed)
    model = gce(host, seed=seed) if wrap else host
    x, c = bag(40, seed=seed)
    ex = LRPExplainer(model, variant="conserving")
    ctx = ex.prepare(x, c)
    r = ex.relevance(ctx)
    f = float(ctx.output[ctx.target])
    assert float(r.logit) == pytest.approx(f, rel=1e-5, abs=1e-6)
    scale = float(r.patches.abs().sum() + r.constant.abs()) + abs(f)  # float32 cancellation bound
    assert abs(float(r.patches.sum() + r.constant) - f) <= 1e-5 * scale + 1e-6
    if name == "transmil":
        assert float(r.constant) != 0.0
    else:
        assert float(r.constant) == 0.0
    np.testing.assert_allclose(ex.attribute(x, c), r.patches.numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["abmil", "clam_sb"])
@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_pooling_equals_the_xmil_port(name, wrap, seed):
    host = _host(name, seed=seed)
    model = gce(host, seed=seed) if wrap else host
    x, c = bag(40, seed=seed)
    ex = LRPExplainer(model, variant="conserving")
    ctx = ex.prepare(x, c)
    ours = ex.relevance(ctx).patches
    ref = port.abmil_lrp(host, ctx.x, ctx.target, ctx.gates)
    assert float(ours.abs().max()) > 1e-3
    assert float((ours - ref).abs().max()) <= 1e-5


def _transmil_pair(mode: str, n: int, seed: int, eps: float, hidden: int):
    host = _host("transmil", (("attention", mode),), seed, hidden).double()
    x, _ = bag(n, seed=seed)
    xt = torch.from_numpy(x).double()
    with torch.no_grad():
        out = host(xt).output
    ctx = BagContext(xt, None, None, int(out.argmax()), out)
    ours = LRPExplainer(host, eps=eps, variant="conserving").relevance(ctx)
    ref, ref_cls = port.transmil_lrp(host, xt, ctx.target, eps)
    return ours, ref, ref_cls, float(out[ctx.target])


@pytest.mark.parametrize("mode", ["full", "nystrom"])
@pytest.mark.parametrize("n", [17, 40])
@pytest.mark.parametrize("seed", [0, 1])
def test_transmil_equals_the_xmil_port(mode, n, seed):
    """float64, ε = 1e-16: the two differ only in where ε enters (xMIL's gamma_layer scales the forward
    value by zp / (zp + ε); ours keeps it exact), which at ε = 1e-8 moves relevances whose bias-free
    denominators are within ~1e3·ε of 0 (see docs/explanations.md)."""
    ours, ref, ref_cls, f = _transmil_pair(mode, n, seed, 1e-16, hidden=16)
    scale = max(1.0, float(ref.abs().max()))
    assert float(ref.abs().max()) > 1e-3
    assert float((ours.patches - ref).abs().max()) <= 1e-5 * scale
    assert float(ours.constant) == pytest.approx(float(ref_cls), abs=1e-5 * scale)
    assert float(ref.sum() + ref_cls) == pytest.approx(f, abs=1e-6 * scale)  # the port conserves too


def test_lrp_no_longer_explains_the_bias_free_logit():
    """Before the fix the relevances summed to f̃ (every bias zeroed): here f̃ and f differ in sign."""
    host = _host("abmil", seed=3)
    with torch.no_grad():
        host.classifier.bias.copy_(torch.tensor([2.0, -2.0, 0.5]))
    x, c = bag(30, seed=3)
    ex = LRPExplainer(host, variant="conserving")
    ctx = ex.prepare(x, c, target=0)
    r = ex.relevance(ctx)
    with torch.no_grad():
        a = host(ctx.x).attention
        e = torch.relu(ctx.x @ host.fc[0].weight.T)  # bias-free embedding
        f_tilde = float((a @ e) @ host.classifier.weight[0])
    f = float(ctx.output[0])
    assert np.sign(f_tilde) != np.sign(f)
    assert float(r.patches.sum()) == pytest.approx(f, rel=1e-5)


@pytest.mark.parametrize("mode", ["full", "nystrom"])
@pytest.mark.parametrize("seed", [0, 1])
def test_transmil_xmil_code_variant_equals_the_literal_port(mode, seed):
    """Variant "xmil_code" = xMIL's TransMIL code as written (bias-free to_out/PPEG values, LayerNormDetach)."""
    host = _host("transmil", (("attention", mode),), seed, 16).double()
    x, _ = bag(40, seed=seed)
    xt = torch.from_numpy(x).double()
    with torch.no_grad():
        for m in host.modules():  # non-zero LayerNorm biases, so that they absorb relevance
            if isinstance(m, torch.nn.LayerNorm):
                m.bias.normal_(0, 0.5)
        out = host(xt).output
    ctx = BagContext(xt, None, None, int(out.argmax()), out)
    ours = LRPExplainer(host, eps=1e-16, variant="xmil_code").relevance(ctx)
    ref, ref_cls, ref_logit = port.transmil_lrp_xmil_code(host, xt, ctx.target, 1e-16)
    scale = max(1.0, float(ref.abs().max()))
    assert float((ours.patches - ref).abs().max()) <= 1e-5 * scale
    assert float(ours.constant) == pytest.approx(float(ref_cls), abs=1e-5 * scale)
    assert float(ours.logit) == pytest.approx(float(ref_logit), rel=1e-9)
    assert abs(float(ours.logit) - float(out[ctx.target])) > 1e-3  # not the real logit
    assert abs(float(ours.patches.sum() + ours.constant) - float(ours.logit)) > 1e-3  # not conserved
    conserving = LRPExplainer(host, eps=1e-16, variant="conserving").relevance(ctx)
    assert float((conserving.patches - ours.patches).abs().max()) > 1e-3


def test_xmil_code_variant_is_the_default_rule_off_transmil_and_bad_variants_are_refused():
    host = _host("abmil", seed=1)
    x, c = bag(30, seed=1)
    a = LRPExplainer(host, variant="conserving").attribute(x, c)
    b = LRPExplainer(host, variant="xmil_code").attribute(x, c)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(EvidentError, match="unknown LRP variant 'xmil'"):
        LRPExplainer(host, variant="xmil")


def test_the_default_variant_explains_transmil_as_the_reference_code_does():
    host = _host("transmil", seed=2)
    x, c = bag(30, seed=2)
    default = LRPExplainer(host)
    assert default.variant == "xmil_code"
    np.testing.assert_array_equal(default.attribute(x, c), LRPExplainer(host, variant="xmil_code").attribute(x, c))
    assert not np.allclose(default.attribute(x, c), LRPExplainer(host, variant="conserving").attribute(x, c))
