"""xMIL-LRP: LRP-ε as a modified forward pass followed by gradient × input (docs/explanations.md).

The rules are those of xMIL (Hense et al., NeurIPS 2024; github.com/bifold-pathomics/xMIL at commit
1d29edf: ``xai/lrp_rules.py`` ``gamma_layer``, ``xai/explanation.py`` ``explain_lrp_gi``). Every
layer keeps its **real** forward value; only the way relevance flows back is modified:

* a layer with a bias, ``z = W x + b`` (Linear, Conv1d/2d, LayerNorm's affine part), returns ``z``
  but is differentiated as ``z_p · [z / (z_p + ε sign z_p)]`` with ``z_p = W x`` (the bias left out
  of the denominator) and the bracket constant, ε = 1e-8, γ = 0. So the relevance of an output,
  ``R_j``, goes to the inputs as ``R_i = Σ_j x_i W_ji R_j / (z_p,j + ε)``: the bias's share is
  redistributed and the whole real logit reaches the input;
* ReLU: unchanged (positively homogeneous); other activations ``φ`` outside the attention branches
  (GELU, SiLU, ...) follow the same rule with ``z = φ(x)``, ``z_p = x``;
* LayerNorm (LN-rule): ``σ`` constant, the mean not, ``z_p = w ⊙ (x − μ) / σ``;
* attention (AH-rule): the attention weights of the real forward are constants -- the host's
  attention scorers listed in :attr:`core.models.base.MILHost.lrp_attention` (ABMIL/CLAM-SB gated
  attention, DSMIL's bag-stream query network, both DTFD-MIL tiers) and TransMIL's self-attention
  (:attr:`core.models.self_attention.MultiHeadSelfAttention.constant_attention`).

Given these constants the modified network is positively homogeneous of degree 1 in its inputs, so
``R_i = Σ_d x̂_id ∂f_c/∂x̂_id`` conserves the explained **real** logit ``f_c``::

    Σ_i R_i + R_const = f_c          (up to ε and exactly-zero denominators)

where ``R_const`` is the relevance of learnt constant inputs (TransMIL's class token; 0 for the other
hosts). Relevance is lost only where a bias-carrying output has ``z_p = 0`` exactly (e.g. a token
zeroed by a GCE gate of 0): its relevance stays with the bias.
**[decision]** A host's stored input standardisation (:class:`core.models.input_norm.InputNorm`) is
preprocessing: relevance is assigned to the standardised features ``x̂`` (identical to ``x`` when the
norm is the identity). Supported: every host whose ``lrp_attention`` is set (abmil, clam_sb, dsmil,
dtfd, transmil); any other host raises "not supported for host X".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.errors import EvidentError
from core.explain.base import BagContext, Explainer
from core.models.base import MILHost
from core.models.input_norm import InputNorm
from core.models.registry import HOSTS
from core.models.self_attention import MultiHeadSelfAttention

__all__ = ["EPS", "LRPExplainer", "Relevance", "VARIANTS", "lrp_mode", "ratio_rule"]

EPS = 1e-8
#: ``"conserving"``: every value real, the real logit conserved (docs/explanations.md §5).
#: ``"xmil_code"``: for TransMIL, what xMIL's code (commit 1d29edf) computes -- the modules named by
#: ``lrp_xmil_code_bias_free`` (attention output projections, PPEG convolutions) lose their bias in
#: the forward value too, LayerNorms are xMIL's ``LayerNormDetach`` (unbiased std, bias absorbs
#: relevance); attention comes from these values; it explains that network's logit, and relevance
#: is not conserved. Identical to ``"conserving"`` for the other hosts.
VARIANTS = ("conserving", "xmil_code")
#: **[decision]** The default follows xMIL's reference code: identical to ``"conserving"`` on ABMIL,
#: CLAM-SB, DSMIL and DTFD-MIL; on TransMIL the conserving rule's bias-free ratios inside the
#: transformer blocks blow up on trained models (drop-AUPC at random level on Musk1, 0.757 vs 0.394
#: on UCSB; docs/results_explain.md), so TransMIL is explained as xMIL's code does.
DEFAULT_VARIANT = "xmil_code"
_HOMOGENISED = (nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Softplus, nn.Mish)


def ratio_rule(z: Tensor, zp: Tensor, eps: float = EPS) -> Tensor:
    """Value ``z``, gradient that of ``zp · [z / (zp + ε sign zp)]`` with the bracket constant.

    ``z``: the real output; ``zp``: the same output without bias (any shape, equal to ``z``'s).
    xMIL's ``gamma_layer`` (γ = 0), except that the forward value is ``z`` exactly (xMIL's is
    ``z · zp / (zp + ε)``, which differs where ``|zp|`` is near ε, e.g. 0 instead of ``b`` for ``zp = 0``).
    """
    scale = (z / (zp + eps * torch.where(zp >= 0, 1.0, -1.0))).detach()
    return z.detach() + (zp - zp.detach()) * scale


def _linear(m: nn.Linear, eps: float):
    return lambda x: ratio_rule(F.linear(x, m.weight, m.bias), F.linear(x, m.weight), eps)


def _conv(m: nn.Conv1d | nn.Conv2d, eps: float):
    conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
    return lambda x: ratio_rule(conv(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups),
                                conv(x, m.weight, None, m.stride, m.padding, m.dilation, m.groups), eps)


def _layer_norm(m: nn.LayerNorm, eps: float):
    def fwd(x: Tensor) -> Tensor:
        z = F.layer_norm(x, m.normalized_shape, m.weight, m.bias, m.eps)
        dims = tuple(range(-len(m.normalized_shape), 0))
        std = (x.var(dim=dims, keepdim=True, unbiased=False) + m.eps).sqrt().detach()
        zp = (x - x.mean(dim=dims, keepdim=True)) / std
        if m.weight is not None:
            zp = zp * m.weight
        if m.bias is None:
            return z.detach() + zp - zp.detach()
        return ratio_rule(z, zp, eps)
    return fwd


def _layer_norm_detach(m: nn.LayerNorm):
    """xMIL's ``LayerNormDetach`` (``xai/lrp_utils.py`` l. 80-102): unbiased std + 1e-5 on the std,
    std constant, bias kept in the value and differentiated as a constant (it absorbs relevance)."""
    def fwd(x: Tensor) -> Tensor:
        std = x.std(dim=-1, keepdim=True).detach()
        y = (x - x.mean(dim=-1, keepdim=True)) / (std + 1e-5 * torch.where(std >= 0, 1.0, -1.0))
        y = y * m.weight if m.weight is not None else y
        return y + m.bias if m.bias is not None else y
    return fwd


def _bias_free(m: nn.Module):
    if isinstance(m, nn.Linear):
        return lambda x: F.linear(x, m.weight)
    conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
    return lambda x: conv(x, m.weight, None, m.stride, m.padding, m.dilation, m.groups)


def _homogenised(original, eps: float):
    return lambda x: ratio_rule(original(x), x, eps)


def _constant(original):
    return lambda *args, **kwargs: original(*args, **kwargs).detach()


def _lrp_forward(m: nn.Module, attention: set[int], inputs: Tensor | None, eps: float, bias_free: set[int],
                 xmil_code: bool):
    """The LRP forward replacing ``m.forward``, or ``None`` to leave ``m`` as it is."""
    if id(m) in attention:
        return _constant(m.forward)
    if id(m) in bias_free and isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        return _bias_free(m)
    if xmil_code and isinstance(m, nn.LayerNorm):
        return _layer_norm_detach(m)
    if isinstance(m, nn.Linear) and m.bias is not None:
        return _linear(m, eps)
    if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.bias is not None:
        return _conv(m, eps)
    if isinstance(m, nn.LayerNorm):
        return _layer_norm(m, eps)
    if isinstance(m, _HOMOGENISED):
        return _homogenised(m.forward, eps)
    if isinstance(m, InputNorm) and inputs is not None:
        return lambda x: inputs
    return None


@contextlib.contextmanager
def lrp_mode(host: MILHost, inputs: Tensor | None = None, eps: float = EPS,
             variant: str = "conserving") -> Iterator[None]:
    """Switch ``host`` (and every submodule) to its LRP forward for the duration of the block.

    ``inputs``: the standardised features ``x̂`` (N, D) that the host's :class:`InputNorm` returns
    instead of standardising its input (so relevance lands on ``x̂``); ``None`` leaves it real.
    ``eps``: the ε of the rule (xMIL's default 1e-8). ``variant``: ``"conserving"`` (the rules above)
    or ``"xmil_code"`` (TransMIL as xMIL's code computes it, see :data:`VARIANTS`). Everything is
    restored in ``finally``.
    """
    if variant not in VARIANTS:
        raise EvidentError(None, f"unknown LRP variant {variant!r} (use one of: {', '.join(VARIANTS)})")
    names = host.lrp_attention or ()
    attention = {id(host.get_submodule(n)) for n in names}
    xmil_code = variant == "xmil_code"
    prefixes = getattr(host, "lrp_xmil_code_bias_free", ()) if xmil_code else ()
    bias_free = {id(m) for n, m in host.named_modules() if any(n == p or n.startswith(p + ".") for p in prefixes)}
    patched: list[tuple[nn.Module, object]] = []
    flagged: list[nn.Module] = []
    try:
        for m in host.modules():
            if isinstance(m, MultiHeadSelfAttention):
                m.constant_attention = True
                flagged.append(m)
                continue
            fwd = _lrp_forward(m, attention, inputs, eps, bias_free, xmil_code)
            if fwd is not None:
                patched.append((m, m.__dict__.get("forward")))
                m.forward = fwd
        yield
    finally:
        for m in flagged:
            del m.constant_attention
        for m, old in reversed(patched):
            if old is None:
                del m.forward
            else:
                m.forward = old


def _standardise(host: nn.Module, x: Tensor) -> Tensor:
    norms = [m for m in host.modules() if isinstance(m, InputNorm)]
    return norms[0](x) if norms else x


class Relevance(NamedTuple):
    """One bag's LRP result.

    Attributes
    ----------
    patches
        (N,) relevance per patch (signed, logit units).
    constant
        () relevance of the host's learnt constant inputs (TransMIL's class token; 0 otherwise).
    logit
        () the explained output ``f_c`` of the LRP forward: the real logit, and
        ``patches.sum() + constant == logit`` up to ε (variant ``"xmil_code"`` on TransMIL: the
        logit of xMIL's partly bias-free network, not conserved).
    """

    patches: Tensor
    constant: Tensor
    logit: Tensor


def _supported() -> str:
    return ", ".join(n for n, cls in HOSTS.items() if cls.lrp_attention is not None)


class LRPExplainer(Explainer):
    """xMIL-LRP relevances per patch (signed). With ``variant="conserving"`` they sum (with the
    constant inputs' share) to the real explained logit on every host; the default
    (:data:`DEFAULT_VARIANT`, xMIL's code) is the same rule except on TransMIL."""

    name = "lrp"

    def __init__(self, model, device="cpu", eps: float = EPS, variant: str = DEFAULT_VARIANT) -> None:
        super().__init__(model, device)
        self.eps = float(eps)
        if variant not in VARIANTS:
            raise EvidentError(None, f"unknown LRP variant {variant!r} (use one of: {', '.join(VARIANTS)})")
        self.variant = variant
        if getattr(self.host, "lrp_attention", None) is None:
            raise EvidentError(None, f"LRP is not supported for host {self.host.name!r} (supported: {_supported()})")

    def relevance(self, ctx: BagContext) -> Relevance:
        """Relevances of the patches (N,) and of the constant inputs (), and the real logit ()."""
        with torch.no_grad():
            xh = _standardise(self.host, ctx.x)  # (N, D)
        xh = xh.detach().clone().requires_grad_(True)
        consts = [getattr(self.host, n) for n in self.host.lrp_constant_inputs]
        with torch.enable_grad(), lrp_mode(self.host, xh, self.eps, self.variant):
            f = self.host(ctx.x, ctx.coords, gate=ctx.gates).output[ctx.target]  # ()
            g, *gc = torch.autograd.grad(f, [xh, *consts], allow_unused=True)
        g = torch.zeros_like(xh) if g is None else g
        r_const = sum(((c * d).sum() for c, d in zip(consts, gc) if d is not None), torch.zeros((), device=xh.device))
        return Relevance((xh * g).sum(dim=1).detach(), r_const.detach(), f.detach())

    def _scores(self, ctx: BagContext) -> Tensor:
        return self.relevance(ctx).patches
