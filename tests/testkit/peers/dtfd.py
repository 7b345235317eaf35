"""DTFD-MIL's test-time forward for one pseudo-bag split, as hrzhang1123/DTFD-MIL computes it in
``Main_DTFD_MIL.py`` ``test_attention_DTFD_preFeat_MultipleMean`` with ``Model/network.py``
(``DimReduction``, ``Classifier_1fc``), ``Model/Attention.py`` (``Attention_Gated``,
``Attention_with_Classifier``) and ``utils.py`` (``get_cam_1d``), commit
10964f4dcc27c65ce110a0e9a3b9240bff58da8a. The peer draws the split at random
(``np.array_split`` of a shuffled index list); here the caller passes it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from testkit.peers import randn


def random_state(d: int, h: int, a: int, c: int, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """The dict the peer saves: four modules' state dicts."""
    g = torch.Generator().manual_seed(seed)

    def gated():
        return {"attention_V.0.weight": randn(g, a, h), "attention_V.0.bias": randn(g, a),
                "attention_U.0.weight": randn(g, a, h), "attention_U.0.bias": randn(g, a),
                "attention_weights.weight": randn(g, 1, a), "attention_weights.bias": randn(g, 1)}

    return {"classifier": {"fc.weight": randn(g, c, h), "fc.bias": randn(g, c)},
            "dim_reduction": {"fc1.weight": randn(g, h, d)},
            "attention": gated(),
            "att_classifier": {"attention." + k: v for k, v in gated().items()}
            | {"classifier.fc.weight": randn(g, c, h), "classifier.fc.bias": randn(g, c)}}


def _gated_logits(s, x):
    a_v = torch.tanh(F.linear(x, s["attention_V.0.weight"], s["attention_V.0.bias"]))
    a_u = torch.sigmoid(F.linear(x, s["attention_U.0.weight"], s["attention_U.0.bias"]))
    return F.linear(a_v * a_u, s["attention_weights.weight"], s["attention_weights.bias"]).transpose(1, 0)  # K x N


def forward(state, tfeat: torch.Tensor, chunks: list[list[int]], distill: str = "AFS",
            instance_per_group: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """tfeat (N, D), a split -> (tier-2 logits gSlidePred (1, C), tier-1 attention over the bag / G (N,))."""
    cls, att = state["classifier"], state["attention"]
    mid = F.relu(F.linear(tfeat, state["dim_reduction"]["fc1.weight"]))
    aa = _gated_logits(att, mid).squeeze(0)
    d_feats, attention = [], torch.zeros(tfeat.shape[0])
    for tindex in chunks:
        idx = torch.LongTensor(tindex)
        tmid = mid.index_select(dim=0, index=idx)
        t_aa = torch.softmax(aa.index_select(dim=0, index=idx), dim=0)
        attention[idx] = t_aa / len(chunks)
        t_att_feats = torch.einsum("ns,n->ns", tmid, t_aa)
        t_att_feat = torch.sum(t_att_feats, dim=0).unsqueeze(0)
        cam = torch.einsum("bgf,cf->bcg", t_att_feats.unsqueeze(0), cls["fc.weight"]).squeeze(0).transpose(0, 1)
        _, sort_idx = torch.sort(torch.softmax(cam, dim=1)[:, -1], descending=True)
        if distill == "MaxMinS":
            top = torch.cat([sort_idx[:instance_per_group], sort_idx[-instance_per_group:]])
            d_feats.append(tmid.index_select(dim=0, index=top))
        elif distill == "MaxS":
            d_feats.append(tmid.index_select(dim=0, index=sort_idx[:instance_per_group]))
        else:
            d_feats.append(t_att_feat)
    x = torch.cat(d_feats, dim=0)
    ac = state["att_classifier"]
    a2 = F.softmax(_gated_logits({k[len("attention."):]: v for k, v in ac.items() if k.startswith("attention.")}, x), dim=1)
    return F.linear(torch.mm(a2, x), ac["classifier.fc.weight"], ac["classifier.fc.bias"]), attention
