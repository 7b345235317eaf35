"""xMIL-LRP: LRP-ε as a modified forward pass followed by gradient × input (docs/explanations.md §1).

Rules, all implemented by temporarily replacing module forwards (restored in ``finally``):

* linear layers: biases dropped (``W x``), so relevance is conserved layer by layer;
* ReLU: unchanged (positively homogeneous); other activations ``φ`` (GELU, SiLU, ...) become
  ``x · [φ(x) / (x + ε sign x)]`` with the bracket treated as a constant, ε = 1e-8 (γ = 0);
* LayerNorm (LN-rule): ``(x − mean) / std`` with ``std`` constant, the affine bias dropped;
* attention pooling (AH-rule): the attention weights ``a`` of the real forward (gate bias included)
  are constants, so the whole gated ``tanh · sigmoid`` branch carries no relevance;
* self-attention (TransMIL, AH-rule): the softmax attention matrices (full, or the three Nyström
  factors and the pseudo-inverse) are constants; convolutions (PPEG) drop their biases.

The modified network is then linear in its input given the constants, so the relevances
``R_i = Σ_d x̂_id ∂f̃_c/∂x̂_id`` sum exactly to ``f̃_c``, the explained logit with every bias dropped.
**[decision]** A host's stored input standardisation (:class:`core.models.input_norm.InputNorm`) is
preprocessing: relevance is assigned to the standardised features ``x̂`` (identical to ``x`` when the
norm is the identity). Supported: attention-pooling hosts (ABMIL, CLAM-SB) through their
``embed``/``head``, and TransMIL (its class token is a learnt constant input, so it keeps a share of
the relevance: patches plus class token sum to ``f̃_c``); any other host raises "not supported for
host X".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.errors import EvidentError
from core.explain.base import BagContext, Explainer
from core.models.base import gate_log_bias
from core.models.input_norm import InputNorm

__all__ = ["EPS", "LRPExplainer", "lrp_mode"]

EPS = 1e-8
_HOMOGENISED = (nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Softplus, nn.Mish)


def _linear(m: nn.Linear):
    return lambda x: F.linear(x, m.weight)


def _layer_norm(m: nn.LayerNorm):
    def fwd(x: Tensor) -> Tensor:
        dims = tuple(range(-len(m.normalized_shape), 0))
        mu = x.mean(dim=dims, keepdim=True)
        std = (x.var(dim=dims, keepdim=True, unbiased=False) + m.eps).sqrt().detach()
        y = (x - mu) / std
        return y * m.weight if m.weight is not None else y
    return fwd


def _conv2d(m: nn.Conv2d):
    return lambda x: F.conv2d(x, m.weight, None, m.stride, m.padding, m.dilation, m.groups)


def _self_attention(m):
    """AH-rule forward of :class:`core.models.self_attention.MultiHeadSelfAttention`."""
    from core.models.self_attention import AttentionMap, iterative_pinv

    def fwd(x: Tensor, mode: str):
        t, dim = x.shape
        q, k, v = m.qkv(x).reshape(t, 3, m.heads, dim // m.heads).permute(1, 2, 0, 3)  # 3 × (h, T, d)
        scale = (dim // m.heads) ** -0.5
        with torch.no_grad():
            if mode == "nystrom" and t > m.landmarks:
                ql = torch.stack([s.mean(1) for s in torch.tensor_split(q, m.landmarks, dim=1)], dim=1)  # (h, m, d)
                kl = torch.stack([s.mean(1) for s in torch.tensor_split(k, m.landmarks, dim=1)], dim=1)  # (h, m, d)
                k1 = torch.softmax(q @ kl.transpose(-1, -2) * scale, dim=-1)  # (h, T, m)
                k3 = torch.softmax(ql @ k.transpose(-1, -2) * scale, dim=-1)  # (h, m, T)
                p = iterative_pinv(torch.softmax(ql @ kl.transpose(-1, -2) * scale, dim=-1))  # (h, m, m)
                amap = AttentionMap(factors=(k1, p, k3))
                mix = lambda vv: k1 @ (p @ (k3 @ vv))
            else:
                att = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)  # (h, T, T)
                amap = AttentionMap(q=q.detach(), k=k.detach())
                mix = lambda vv: att @ vv
        o = mix(v)  # (h, T, d)
        return m.out(o.transpose(0, 1).reshape(t, dim)), amap  # (T, dim)
    return fwd


def _homogenised(m: nn.Module, original):
    def fwd(x: Tensor) -> Tensor:
        denom = x + EPS * torch.where(x >= 0, 1.0, -1.0)
        return x * (original(x) / denom).detach()
    return fwd


@contextlib.contextmanager
def lrp_mode(module: nn.Module) -> Iterator[None]:
    """Switch every submodule of ``module`` to its LRP forward for the duration of the block."""
    patched: list[tuple[nn.Module, object]] = []
    try:
        for m in module.modules():
            if isinstance(m, nn.Linear):
                fwd = _linear(m)
            elif isinstance(m, nn.LayerNorm):
                fwd = _layer_norm(m)
            elif isinstance(m, _HOMOGENISED):
                fwd = _homogenised(m, m.forward)
            elif isinstance(m, nn.Conv2d):
                fwd = _conv2d(m)
            elif type(m).__name__ == "MultiHeadSelfAttention":
                fwd = _self_attention(m)
            elif isinstance(m, InputNorm):
                fwd = lambda x: x
            else:
                continue
            patched.append((m, m.__dict__.get("forward")))
            m.forward = fwd
        yield
    finally:
        for m, old in reversed(patched):
            if old is None:
                del m.forward
            else:
                m.forward = old


def _standardise(host: nn.Module, x: Tensor) -> Tensor:
    norms = [m for m in host.modules() if isinstance(m, InputNorm)]
    return norms[0](x) if norms else x


class LRPExplainer(Explainer):
    """xMIL-LRP relevances per patch (signed), summing to the bias-free explained logit."""

    name = "lrp"

    def __init__(self, model, device="cpu") -> None:
        super().__init__(model, device)
        self.pooling = self.host.pools_by_attention and self.host.gate_mode == "attention_bias"
        if not (self.pooling or self.host.name == "transmil"):
            raise EvidentError(None, f"LRP is not supported for host {self.host.name!r} (supported: abmil, clam_sb, transmil)")

    def relevance_and_logit(self, ctx: BagContext) -> tuple[Tensor, Tensor]:
        """Relevances (N,) and the bias-free explained logit f̃_c () (attention pooling: they sum to it)."""
        if not self.pooling:
            xh = _standardise(self.host, ctx.x).detach().clone().requires_grad_(True)
            with torch.enable_grad(), lrp_mode(self.host):
                f = self.host(xh, ctx.coords, gate=ctx.gates).output[ctx.target]  # ()
                (g,) = torch.autograd.grad(f, xh)
            return (xh * g).sum(dim=1).detach(), f.detach()
        with torch.no_grad():
            _, z = self.host.embed(ctx.x)  # (N,)
            if ctx.gates is not None:
                z = z + gate_log_bias(ctx.gates)
            a = torch.softmax(z, dim=0)  # (N,) constants (AH-rule)
            xh = _standardise(self.host, ctx.x)  # (N, D)
        xh = xh.detach().clone().requires_grad_(True)
        with torch.enable_grad(), lrp_mode(self.host):
            e, _ = self.host.embed(xh)  # (N, H)
            f = self.host.head(a @ e)[ctx.target]  # ()
            (g,) = torch.autograd.grad(f, xh)
        return (xh * g).sum(dim=1).detach(), f.detach()

    def _scores(self, ctx: BagContext) -> Tensor:
        return self.relevance_and_logit(ctx)[0]
