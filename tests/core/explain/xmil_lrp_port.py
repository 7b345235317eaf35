"""A port of xMIL's layer-wise LRP, written from its source, to check core.explain.lrp against.

Source: github.com/bifold-pathomics/xMIL, commit 1d29edf (read with ``git show 1d29edf:<file>``):

* ``xai/lrp_utils.py`` l. 5-23 ``set_lrp_params`` (γ = 0, ε = 1e-8, no_bias = True), l. 65-66
  ``apply_eps``, l. 80-102 ``LayerNormDetach`` (mean kept, std detached);
* ``xai/lrp_rules.py`` l. 9-17 ``gamma_layer``, l. 20-33 ``modified_linear_layer``, l. 47-92
  ``output_relevance`` (``explained_rel='logit'``: the real logit of the explained class);
* ``xai/explanation.py`` l. 143-171 ``explain_lrp_gi``: relevance goes back block by block,
  ``y_rel = out_y · (R / (out_y + ε sign)).data``, ``R_in = input · ∂y_rel/∂input``, where ``out_y``
  is the block's bias-free pre-activation output (``input-p``) where xMIL records one, else its real
  output;
* ``models/attention_mil.py`` l. 145-230 ``AttentionMILModel.activations`` (blocks fc1-0,
  aggregation with the attention of the real forward detached, classifier, out);
* ``models/transmil.py`` l. 270-388 ``TransMIL.activations`` (blocks fc1, translayer-0, pos-enc,
  translayer-1, norm-layer, pooler, classifier, out), l. 55-80 ``TransLayer.xforward``, l. 110-132
  ``PPEG.xforward``; ``models/attention.py`` l. 189 / 178 (attention detached), l. 214-243
  ``Attention.xforward``.

``transmil_lrp_xmil_code`` reproduces xMIL's TransMIL code as written (the reference for the
``"xmil_code"`` variant of core.explain.lrp). ``transmil_lrp`` applies xMIL's rules with every value
real (the reference for the default ``"conserving"`` variant). Where it departs from the code, and why:

* inside a block (TransLayer, PPEG) every layer with a bias goes through xMIL's own ``gamma_layer``
  (its docstring: "Important for gradient x input when applying it to a cascade of blocks"), so
  the block keeps its real output: xMIL's ``TransLayer.xforward`` / ``PPEG.xforward`` call the
  bias-free ``modified_linear_layer`` (attention ``to_out``, PPEG convolutions) directly, so the
  activations after the first TransLayer and the explained logit are those of a partly bias-free
  network, and the LayerNorm bias (kept in ``LayerNormDetach``) absorbs relevance. Both contradict
  the rule xMIL states for ABMIL (real activations, biases out of the denominators only) that
  Evident implements; docs/explanations.md lists these differences;
* LayerNorm uses torch's statistics (biased variance, ε inside the square root) as Evident's
  model does, not ``LayerNormDetach``'s unbiased std + ε; with the std constant the relevance ratio
  does not depend on it, only the forward values (which must be the model's);
* Evident's TransMIL has no residual value convolution and uses segment-mean Nyström landmarks
  (core/models/self_attention.py); the port uses Evident's attention matrices.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from core.models.self_attention import iterative_pinv

EPS = 1e-8  # xai/lrp_utils.py set_lrp_params default


def apply_eps(x: Tensor, eps: float) -> Tensor:  # xai/lrp_utils.py l. 65-66
    return torch.where(x >= 0, 1, -1) * eps


def var_data_requires_grad(x: Tensor) -> Tensor:  # xai/lrp_utils.py l. 45-53
    xdata = x.detach().clone()
    xdata.requires_grad_(True)
    return xdata


def modified_linear(layer, x: Tensor) -> Tensor:
    """``modified_linear_layer(layer, gamma=0, no_bias=True)(x)`` (xai/lrp_rules.py l. 20-33)."""
    if isinstance(layer, torch.nn.Linear):
        return F.linear(x, layer.weight)
    conv = F.conv1d if isinstance(layer, torch.nn.Conv1d) else F.conv2d
    return conv(x, layer.weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def gamma_layer(x: Tensor, layer, eps: float = EPS) -> Tensor:  # xai/lrp_rules.py l. 9-17
    z = layer(x)
    zp = modified_linear(layer, x)
    return zp * (z / (zp + apply_eps(zp, eps))).data


def gamma_layer_norm(x: Tensor, norm, eps: float = EPS) -> Tensor:
    """``gamma_layer`` for a LayerNorm: ``z`` real, ``zp`` the LN-rule output without the bias."""
    z = norm(x)
    std = (x.var(dim=-1, keepdim=True, unbiased=False) + norm.eps).sqrt().detach()  # LayerNormDetach: std detached
    zp = (x - x.mean(dim=-1, keepdim=True)) / std * norm.weight
    return zp * (z / (zp + apply_eps(zp, eps))).data


def explain_lrp_gi(activations: dict, relevance_out: Tensor, eps: float = EPS) -> tuple[Tensor, dict]:
    """xai/explanation.py l. 143-171, line for line (``nan2zero`` of the gradient included)."""
    R = {"out": relevance_out}
    layer_names = list(reversed(activations.keys()))
    relevance = relevance_out
    for i_layer, layer_name in enumerate(layer_names[1:]):
        act_output = activations[layer_names[i_layer]]
        if act_output.get("input-p") is not None:
            out_y = act_output["input-p"]
        else:
            out_y = act_output["input"]
        y_rel = out_y * (relevance / (out_y + apply_eps(out_y, eps))).data
        y_rel.sum().backward()
        act_input = activations[layer_name]
        grad = act_input["input-data"].grad
        grad = torch.where(torch.isnan(grad), torch.zeros_like(grad), grad)
        relevance = grad * act_input["input"]
        R[layer_name] = relevance
    return relevance, R


def output_relevance(logits: Tensor, explained_class: int) -> Tensor:  # lrp_rules.py, explained_rel='logit'
    relevance_out = logits.clone()
    others = [i for i in range(logits.shape[1]) if i != explained_class]
    relevance_out[:, others] = 0
    return relevance_out


def abmil_lrp(host, x: Tensor, target: int, gate: Tensor | None = None, eps: float = EPS) -> Tensor:
    """Patch relevances (N,) of Evident's ABMIL / CLAM-SB host on standardised features x (N, D)."""
    acts = {}
    fc = host.fc[0]
    linear_input_data = var_data_requires_grad(x)
    acts["fc1-0"] = {"input": x, "input-data": linear_input_data, "input-p": None}
    block_out = F.relu(fc(linear_input_data))  # (N, H)
    block_out_p = modified_linear(fc, linear_input_data)  # (N, H) pre-ReLU, bias-free
    attn_input_data = var_data_requires_grad(block_out)
    scores = host.attention(attn_input_data).detach()  # (N,) detach_attn=True
    if gate is not None:
        scores = scores + torch.log(gate + 1e-6)  # Evident's gate: an attention-logit bias
    agg_input_data = var_data_requires_grad(block_out)
    acts["aggregation"] = {"input": block_out, "input-data": agg_input_data, "input-p": block_out_p}
    agg_output = torch.softmax(scores, 0)[None] @ agg_input_data  # (1, H) bag_aggregation
    classifier_input_data = var_data_requires_grad(agg_output)
    acts["classifier"] = {"input": agg_output, "input-data": classifier_input_data, "input-p": None}
    logits = host.classifier(classifier_input_data)  # (1, C)
    logits_p = modified_linear(host.classifier, classifier_input_data)
    acts["out"] = {"input": logits, "input-p": logits_p}
    rel, _ = explain_lrp_gi(acts, output_relevance(logits.detach(), target), eps)
    return rel.sum(-1).detach()  # (N,)


def _translayer_xforward(layer, x: Tensor, mode: str, eps: float) -> Tensor:
    """TransLayer.xforward + Attention.xforward on Evident's TransLayer: x (T, H) -> (T, H)."""
    x_norm = gamma_layer_norm(x, layer.norm, eps)
    m = layer.attn
    t, dim = x_norm.shape
    q, k, v = m.qkv(x_norm).reshape(t, 3, m.heads, dim // m.heads).permute(1, 2, 0, 3)  # to_qkv has no bias
    scale = (dim // m.heads) ** -0.5
    if mode == "nystrom" and t > m.landmarks:
        ql = torch.stack([s.mean(1) for s in torch.tensor_split(q, m.landmarks, dim=1)], dim=1)
        kl = torch.stack([s.mean(1) for s in torch.tensor_split(k, m.landmarks, dim=1)], dim=1)
        attn1 = torch.softmax(q @ kl.transpose(-1, -2) * scale, -1)
        attn2_inv = iterative_pinv(torch.softmax(ql @ kl.transpose(-1, -2) * scale, -1))
        attn3 = torch.softmax(ql @ k.transpose(-1, -2) * scale, -1)
        out = (attn1 @ attn2_inv @ attn3).detach() @ v  # attention.py l. 178
    else:
        out = torch.softmax(q @ k.transpose(-1, -2) * scale, -1).detach() @ v  # attention.py l. 189
    out = out.transpose(0, 1).reshape(t, dim)
    return x + gamma_layer(out, m.out[0], eps)


def _ppeg_xforward(ppeg, x: Tensor, side: int, eps: float) -> Tensor:  # PPEG.xforward (detach_pe=False)
    cls, feat = x[:1], x[1:]
    cnn_feat = feat.T.reshape(1, -1, side, side)
    y = cnn_feat + sum(gamma_layer(cnn_feat, conv, eps) for conv in (ppeg.proj7, ppeg.proj5, ppeg.proj3))
    return torch.cat([cls, y.flatten(2)[0].T])


def transmil_lrp(host, x: Tensor, target: int, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Patch relevances (N,) and the class token's relevance () of Evident's TransMIL on x̂ (N, D)."""
    acts = {}
    fc1_input_data = var_data_requires_grad(x)
    acts["fc1"] = {"input": x, "input-data": fc1_input_data, "input-p": None}
    feats = host.fc(fc1_input_data)  # (N, H) Linear + ReLU
    feats_p = modified_linear(host.fc[0], fc1_input_data)  # (N, H)
    n = x.shape[0]
    side = math.ceil(math.sqrt(n))
    src = torch.cat([torch.arange(n), torch.arange(side * side - n) % n])  # _pad
    feats = torch.cat([host.cls_token, feats[src]])  # _add_clstoken
    feats_p = torch.cat([host.cls_token, feats_p[src]])
    mode = host._mode(feats.shape[0])
    attn0_input_data = var_data_requires_grad(feats)
    acts["translayer-0"] = {"input": feats, "input-data": attn0_input_data, "input-p": feats_p}
    attn_output = _translayer_xforward(host.layer1, attn0_input_data, mode, eps)
    pos_enc_input_data = var_data_requires_grad(attn_output)
    acts["pos-enc"] = {"input": attn_output, "input-data": pos_enc_input_data, "input-p": None}
    pos_enc_output = _ppeg_xforward(host.ppeg, pos_enc_input_data, side, eps)
    attn_input_data = var_data_requires_grad(pos_enc_output)
    acts["translayer-1"] = {"input": pos_enc_output, "input-data": attn_input_data, "input-p": None}
    attn_output = _translayer_xforward(host.layer2, attn_input_data, mode, eps)
    norm_input_data = var_data_requires_grad(attn_output)
    acts["norm-layer"] = {"input": attn_output, "input-data": norm_input_data, "input-p": None}
    norm_output = gamma_layer_norm(norm_input_data, host.norm, eps)
    pooler_input_data = var_data_requires_grad(norm_output)
    acts["pooler"] = {"input": norm_output, "input-data": pooler_input_data, "input-p": None}
    pooled = pooler_input_data[:1]  # cls_token pooling, (1, H)
    classifier_input_data = var_data_requires_grad(pooled)
    acts["classifier"] = {"input": pooled, "input-data": classifier_input_data, "input-p": None}
    logits = host.classifier(classifier_input_data)  # (1, C)
    logits_p = modified_linear(host.classifier, classifier_input_data)
    acts["out"] = {"input": logits, "input-p": logits_p}
    rel, R = explain_lrp_gi(acts, output_relevance(logits.detach(), target), eps)
    return rel.sum(-1).detach(), R["translayer-0"][0].sum().detach()


def layer_norm_detach(x: Tensor, norm, eps: float = 1e-5) -> Tensor:  # xai/lrp_utils.py l. 80-102 (unbiased std, ε on the std)
    std = x.std(dim=-1, keepdim=True).detach()
    return (x - x.mean(dim=-1, keepdim=True)) / (std + apply_eps(std, eps)) * norm.weight + norm.bias


def transmil_lrp_xmil_code(host, x: Tensor, target: int, eps: float = EPS) -> tuple[Tensor, Tensor, Tensor]:
    """xMIL's TransMIL.activations / TransLayer.xforward / PPEG.xforward / Attention.xforward as written
    (bias-free ``to_out`` and PPEG values, ``LayerNormDetach``), on Evident's modules.

    Returns patch relevances (N,), the class token's relevance () and the explained logit ().
    """
    def translayer(layer, h, mode):
        xn = layer_norm_detach(h, layer.norm)
        m = layer.attn
        t, dim = xn.shape
        q, k, v = m.qkv(xn).reshape(t, 3, m.heads, dim // m.heads).permute(1, 2, 0, 3)
        scale = (dim // m.heads) ** -0.5
        if mode == "nystrom" and t > m.landmarks:
            ql = torch.stack([s.mean(1) for s in torch.tensor_split(q, m.landmarks, dim=1)], dim=1)
            kl = torch.stack([s.mean(1) for s in torch.tensor_split(k, m.landmarks, dim=1)], dim=1)
            att = (torch.softmax(q @ kl.transpose(-1, -2) * scale, -1) @ iterative_pinv(torch.softmax(ql @ kl.transpose(-1, -2) * scale, -1))
                   @ torch.softmax(ql @ k.transpose(-1, -2) * scale, -1))
        else:
            att = torch.softmax(q @ k.transpose(-1, -2) * scale, -1)
        out = (att.detach() @ v).transpose(0, 1).reshape(t, dim)
        return h + modified_linear(m.out[0], out)  # to_out_ bias-free (attention.py l. 236-237)

    acts = {}
    d0 = var_data_requires_grad(x)
    acts["fc1"] = {"input": x, "input-data": d0, "input-p": None}
    feats, feats_p = host.fc(d0), modified_linear(host.fc[0], d0)
    n = x.shape[0]; side = math.ceil(math.sqrt(n))
    src = torch.cat([torch.arange(n), torch.arange(side * side - n) % n])
    feats = torch.cat([host.cls_token, feats[src]]); feats_p = torch.cat([host.cls_token, feats_p[src]])
    mode = host._mode(feats.shape[0])
    d1 = var_data_requires_grad(feats)
    acts["translayer-0"] = {"input": feats, "input-data": d1, "input-p": feats_p}
    h = translayer(host.layer1, d1, mode)
    d2 = var_data_requires_grad(h)
    acts["pos-enc"] = {"input": h, "input-data": d2, "input-p": None}
    cls, feat = d2[:1], d2[1:]
    g = feat.T.reshape(1, -1, side, side)
    g = g + sum(modified_linear(c, g) for c in (host.ppeg.proj7, host.ppeg.proj5, host.ppeg.proj3))
    h = torch.cat([cls, g.flatten(2)[0].T])
    d3 = var_data_requires_grad(h)
    acts["translayer-1"] = {"input": h, "input-data": d3, "input-p": None}
    h = translayer(host.layer2, d3, mode)
    d4 = var_data_requires_grad(h)
    acts["norm-layer"] = {"input": h, "input-data": d4, "input-p": None}
    h = layer_norm_detach(d4, host.norm)
    d5 = var_data_requires_grad(h)
    acts["pooler"] = {"input": h, "input-data": d5, "input-p": None}
    pooled = d5[:1]
    d6 = var_data_requires_grad(pooled)
    acts["classifier"] = {"input": pooled, "input-data": d6, "input-p": None}
    logits = host.classifier(d6)
    acts["out"] = {"input": logits, "input-p": modified_linear(host.classifier, d6)}
    rel, R = explain_lrp_gi(acts, output_relevance(logits.detach(), target), eps)
    return rel.sum(-1).detach(), R["translayer-0"][0].sum().detach(), logits[0, target].detach()
