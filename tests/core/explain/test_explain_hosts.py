"""Every real host: interventions equal real forwards, every method runs (LRP included on all five hosts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics.interventions import InterventionEngine
from core.explain.lrp import LRPExplainer, lrp_mode
from core.explain.registry import EXPLAINERS, build_explainer
from core.models.base import HostConfig
from core.models.registry import HOSTS, build_host
from testkit.explain import bag, gce


def _host(name: str, seed: int = 0):
    torch.manual_seed(seed)
    extra = (("heads", 2), ("landmarks", 4)) if name == "transmil" else ()
    return build_host(name, HostConfig(in_dim=6, n_outputs=3, hidden=8, attn_hidden=4, dropout=0.0, extra=extra)).eval()


@pytest.mark.parametrize("name", list(HOSTS))
@pytest.mark.parametrize("wrap", [False, True])
def test_real_host_interventions_and_methods(name, wrap):
    host = _host(name)
    model = gce(host) if wrap else host
    x, c = bag(17)
    xt, ct = torch.from_numpy(x), torch.from_numpy(c).float()
    eng = InterventionEngine(model, x, c)
    assert eng.fast == (name in ("abmil", "clam_sb", "attention_mil"))
    idx = np.array([0, 4, 9])
    with torch.no_grad():
        g = model(xt, ct).gates if wrap else None
        ref = host(xt[idx], ct[idx], gate=None if g is None else g[idx]).output.double()
    np.testing.assert_allclose(eng.keep_only(idx).probs_after, torch.softmax(ref, 0).numpy(), atol=1e-5)
    for method in EXPLAINERS:
        if method.startswith("gce") and not wrap:
            continue
        s = build_explainer(method, model).attribute(x, c)
        assert s.shape == (17,) and s.dtype == np.float32 and np.isfinite(s).all(), method
    with torch.no_grad():  # nothing left patched
        after = model(xt, ct).host.output if wrap else model(xt, ct).output
    np.testing.assert_allclose(after.double().numpy(), eng.output_before, atol=1e-6)


def test_clam_fast_paths_equal_naive():
    from core.explain.leave_one_out import LeaveOneOutExplainer
    from core.explain.single import SingleExplainer

    model = gce(_host("clam_sb"))
    x, c = bag(25)
    for cls in (SingleExplainer, LeaveOneOutExplainer):
        assert np.abs(cls(model).attribute(x, c) - cls(model, fast=False).attribute(x, c)).max() <= 1e-5


@pytest.mark.parametrize("n,mode", [(17, "full"), (40, "full"), (40, "nystrom")])
def test_transmil_lrp_conserves_with_class_token(n, mode):
    """Patches plus class token sum to the real logit (it was the bias-free f̃ before the xMIL rule)."""
    torch.manual_seed(1)
    cfg = HostConfig(in_dim=6, n_outputs=3, hidden=8, dropout=0.0, extra=(("attention", mode), ("heads", 2), ("landmarks", 4)))
    host = build_host("transmil", cfg).eval()
    x, c = bag(n)
    ex = LRPExplainer(host, variant="conserving")
    ctx = ex.prepare(x, c)
    xh = ctx.x.clone().requires_grad_(True)
    with torch.enable_grad(), lrp_mode(host, xh):
        f = host(ctx.x, ctx.coords).output[ctx.target]
        gx, gc = torch.autograd.grad(f, [xh, host.cls_token])
    r_cls = float((host.cls_token.detach() * gc).sum())
    rel = ex.attribute(x, c)
    assert float(f.detach()) == pytest.approx(float(ctx.output[ctx.target]), rel=1e-5)
    assert float(rel.sum()) + r_cls == pytest.approx(float(ctx.output[ctx.target]), rel=1e-3, abs=1e-4)
    assert r_cls == pytest.approx(float(ex.relevance(ctx).constant), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(rel, (xh * gx).sum(1).detach().numpy(), atol=1e-5)
