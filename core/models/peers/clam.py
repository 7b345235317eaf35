"""CLAM-SB and CLAM-MB from mahmoodlab/CLAM ``models/model_clam.py`` -> ``clam_sb`` / ``clam_mb``.

Peer layout (gated attention, ``gate=True``, CLAM's default): ``attention_net = Sequential(Linear(D,
H), ReLU, Dropout, Attn_Net_Gated(attention_a, attention_b, attention_c))``, bag classifier(s)
``classifiers`` and per-class ``instance_classifiers``. SB maps one-to-one onto :class:`CLAMSB`;
MB (``attention_c`` with C outputs, one ``Linear(H, 1)`` per class) onto the port
:class:`core.models.clam_mb.CLAMMB`. The ungated ``Attn_Net`` is not imported (its keys are named
as unexpected).
"""

from __future__ import annotations

from core.models.base import HostConfig
from core.models.peers.format import Imported, PeerCode, PeerFormat, anchor_dims

#: last commit changing the file (the model is as at 0266041; verified against the repository at 53e2409)
CODE = PeerCode("mahmoodlab/CLAM", "models/model_clam.py", "08bc92977e7aefcae169854e0f46aeac2b81ce53")
_A = "attention_net.3."


def _infer_sb(state, path, options):
    return anchor_dims(state, {"D": ("attention_net.0.weight", 1), "H": ("attention_net.0.weight", 0),
                               "A": (_A + "attention_a.0.weight", 0), "C": ("classifiers.weight", 0)}, path, "clam_sb")


def _infer_mb(state, path, options):
    return anchor_dims(state, {"D": ("attention_net.0.weight", 1), "H": ("attention_net.0.weight", 0),
                               "A": (_A + "attention_a.0.weight", 0), "C": (_A + "attention_c.weight", 0)}, path, "clam_mb")


def _common(d, branches):
    h, a, c = d["H"], d["A"], d["C"]
    keys = {"attention_net.0.weight": (h, d["D"]), "attention_net.0.bias": (h,),
            _A + "attention_a.0.weight": (a, h), _A + "attention_a.0.bias": (a,),
            _A + "attention_b.0.weight": (a, h), _A + "attention_b.0.bias": (a,),
            _A + "attention_c.weight": (branches, a), _A + "attention_c.bias": (branches,)}
    for i in range(c):
        keys |= {f"instance_classifiers.{i}.weight": (2, h), f"instance_classifiers.{i}.bias": (2,)}
    return keys


def _expected_sb(d):
    return _common(d, 1) | {"classifiers.weight": (d["C"], d["H"]), "classifiers.bias": (d["C"],)}


def _expected_mb(d):
    keys = _common(d, d["C"])
    for i in range(d["C"]):
        keys |= {f"classifiers.{i}.weight": (1, d["H"]), f"classifiers.{i}.bias": (1,)}
    return keys


def _shared(state, d):
    sd = {"fc.0.weight": state["attention_net.0.weight"], "fc.0.bias": state["attention_net.0.bias"]}
    for ours, theirs in (("v.0", "attention_a.0"), ("u.0", "attention_b.0"), ("w", "attention_c")):
        for p in ("weight", "bias"):
            sd[f"attention.{ours}.{p}"] = state[f"{_A}{theirs}.{p}"]
    for i in range(d["C"]):
        for p in ("weight", "bias"):
            sd[f"instance_classifiers.{i}.{p}"] = state[f"instance_classifiers.{i}.{p}"]
    return sd


def _config(d):
    return HostConfig(in_dim=d["D"], n_outputs=d["C"], hidden=d["H"], attn_hidden=d["A"], dropout=0.0)


def _convert_sb(state, d):
    sd = _shared(state, d) | {"classifier.weight": state["classifiers.weight"], "classifier.bias": state["classifiers.bias"]}
    return Imported("clam_sb", _config(d), sd)


def _convert_mb(state, d):
    sd = _shared(state, d)
    for i in range(d["C"]):
        for p in ("weight", "bias"):
            sd[f"classifiers.{i}.{p}"] = state[f"classifiers.{i}.{p}"]
    return Imported("clam_mb", _config(d), sd)


FORMAT_SB = PeerFormat("clam_sb", CODE, 1, _infer_sb, _expected_sb, _convert_sb, "CLAM single branch (gated)")
FORMAT_MB = PeerFormat("clam_mb", CODE, 1, _infer_mb, _expected_mb, _convert_mb, "CLAM multi-branch (gated)")
