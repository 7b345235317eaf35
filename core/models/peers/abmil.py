"""Gated ABMIL from AMLab-Amsterdam/AttentionDeepMIL ``model.py`` (class ``GatedAttention``) -> ``abmil``.

Peer: ``H = ReLU(feature_extractor_part2(conv(x)))`` (N, M); ``A = softmax(attention_w(attention_V(H)
⊙ attention_U(H)))``; ``Y_prob = σ(classifier(A H))``. The convolutional ``feature_extractor_part1``
is the image encoder: Evident's bags hold its flattened output (D = 800 for the MNIST model), so
those keys are accepted and left out. The one sigmoid output becomes two logits ``(0, s)``:
``softmax`` gives ``(1 − Y_prob, Y_prob)`` and ``output[1] − output[0]`` is the peer's logit.
"""

from __future__ import annotations

import torch

from core.models.base import HostConfig
from core.models.peers.format import Imported, PeerCode, PeerFormat, anchor_dims

CODE = PeerCode("AMLab-Amsterdam/AttentionDeepMIL", "model.py", "eb0434ba2795711a45d693d60120ae53532b1b93")


def _infer(state, path, options):
    return anchor_dims(state, {"D": ("feature_extractor_part2.0.weight", 1), "H": ("feature_extractor_part2.0.weight", 0),
                               "A": ("attention_V.0.weight", 0)}, path, "abmil")


def _expected(d):
    h, a = d["H"], d["A"]
    return {"feature_extractor_part1*": (), "feature_extractor_part2.0.weight": (h, d["D"]),
            "feature_extractor_part2.0.bias": (h,), "attention_V.0.weight": (a, h), "attention_V.0.bias": (a,),
            "attention_U.0.weight": (a, h), "attention_U.0.bias": (a,), "attention_w.weight": (1, a),
            "attention_w.bias": (1,), "classifier.0.weight": (1, h), "classifier.0.bias": (1,)}


def _convert(state, d):
    w, b = state["classifier.0.weight"], state["classifier.0.bias"]
    sd = {"fc.0.weight": state["feature_extractor_part2.0.weight"], "fc.0.bias": state["feature_extractor_part2.0.bias"],
          "attention.v.0.weight": state["attention_V.0.weight"], "attention.v.0.bias": state["attention_V.0.bias"],
          "attention.u.0.weight": state["attention_U.0.weight"], "attention.u.0.bias": state["attention_U.0.bias"],
          "attention.w.weight": state["attention_w.weight"], "attention.w.bias": state["attention_w.bias"],
          "classifier.weight": torch.cat([torch.zeros_like(w), w]), "classifier.bias": torch.cat([torch.zeros_like(b), b])}
    config = HostConfig(in_dim=d["D"], n_outputs=2, hidden=d["H"], attn_hidden=d["A"], dropout=0.0)
    return Imported("abmil", config, sd, note="one sigmoid output as two logits (0, s): softmax gives (1 - p, p)")


FORMAT = PeerFormat("abmil", CODE, 1, _infer, _expected, _convert,
                    "gated ABMIL (Ilse et al. 2018); the conv encoder is left out")
