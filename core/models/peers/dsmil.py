"""DSMIL from binli123/dsmil-wsi ``dsmil.py`` (``MILNet`` of ``FCLayer`` + ``BClassifier``) -> ``dsmil``.

Peer: instance classifier ``i_classifier.fc.0`` (Linear D→C) on the features themselves; bag
stream ``b_classifier.q`` (Linear D→128, ReLU, Linear 128→128, Tanh; ``nonlinear=True``, the
default), ``v`` the identity (``passing_v=False``, the default), ``fcc`` (Conv1d C→C, kernel D).
Critical instance of class c = top of ``c[:, c]``; ``A = softmax_i(⟨q_i, q_crit⟩ / √128)``.
Maps onto :class:`core.models.dsmil.DSMIL` with ``embed=False`` (no embedding layer, hidden = D).
``passing_v=True`` / ``nonlinear=False`` show up as unexpected or missing keys. A single-output
model (``num_classes=1``, sigmoid) is refused: its attention has no class to follow here.
"""

from __future__ import annotations

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.peers.format import Imported, PeerCode, PeerFormat, anchor_dims

CODE = PeerCode("binli123/dsmil-wsi", "dsmil.py", "80465ed534ac49b5e550833da56c27936f0b9440")


def _infer(state, path, options):
    d = anchor_dims(state, {"D": ("i_classifier.fc.0.weight", 1), "C": ("i_classifier.fc.0.weight", 0),
                            "Q": ("b_classifier.q.0.weight", 0)}, path, "dsmil")
    if d["C"] < 2:
        raise EvidentError(path, "dsmil: a single-output model (num_classes=1, sigmoid) is not imported; "
                                 "Evident needs one output per class")
    return d


def _expected(d):
    dd, c, q = d["D"], d["C"], d["Q"]
    return {"i_classifier.fc.0.weight": (c, dd), "i_classifier.fc.0.bias": (c,),
            "b_classifier.q.0.weight": (q, dd), "b_classifier.q.0.bias": (q,),
            "b_classifier.q.2.weight": (q, q), "b_classifier.q.2.bias": (q,),
            "b_classifier.fcc.weight": (c, c, dd), "b_classifier.fcc.bias": (c,)}


def _convert(state, d):
    sd = {"instance_classifier.weight": state["i_classifier.fc.0.weight"],
          "instance_classifier.bias": state["i_classifier.fc.0.bias"],
          "bag_classifier.weight": state["b_classifier.fcc.weight"], "bag_classifier.bias": state["b_classifier.fcc.bias"]}
    for i in (0, 2):
        for p in ("weight", "bias"):
            sd[f"q.{i}.{p}"] = state[f"b_classifier.q.{i}.{p}"]
    config = HostConfig(in_dim=d["D"], n_outputs=d["C"], hidden=d["D"], attn_hidden=d["Q"], dropout=0.0,
                        extra=(("embed", False), ("q_dim", d["Q"])))
    return Imported("dsmil", config, sd)


FORMAT = PeerFormat("dsmil", CODE, 1, _infer, _expected, _convert, "DSMIL (aggregator on features; embed=False)")
