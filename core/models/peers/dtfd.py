"""DTFD-MIL from hrzhang1123/DTFD-MIL (``Main_DTFD_MIL.py`` saves ``{'classifier', 'dim_reduction',
'attention', 'att_classifier'}``; modules in ``Model/network.py`` and ``Model/Attention.py``) -> the
port :class:`core.models.dtfd_peer.DTFDPeer`.

Peer keys (flattened with "."): ``dim_reduction.fc1`` (Linear D→H, no bias; ``numLayer_Res = 0``),
tier 1 ``attention`` (``Attention_Gated``: ``attention_V.0``, ``attention_U.0``,
``attention_weights``) and ``classifier.fc``; tier 2 ``att_classifier.attention`` (gated) and
``att_classifier.classifier.fc``. What the weights cannot show comes from ``--peer-option``:
``distill`` (AFS, MaxMinS or MaxS; default AFS, the script's default), ``n_groups`` (its
``numGroup_test``, default 4) and ``total_instance`` (``total_instance_test``, default 4; instances
per pseudo-bag = total_instance // n_groups).
"""

from __future__ import annotations

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.peers.format import Imported, PeerCode, PeerFormat, anchor_dims

CODE = PeerCode("hrzhang1123/DTFD-MIL", "Main_DTFD_MIL.py, Model/Attention.py, Model/network.py",
                "10964f4dcc27c65ce110a0e9a3b9240bff58da8a")
_DISTILL = {"afs": "afs", "maxmins": "maxmins", "maxs": "maxs"}


def _positive(options, key, default):
    text = options.get(key, str(default))
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise EvidentError(None, f"--peer-option {key}={text!r} for dtfd: expected a positive integer")
    return value


def _infer(state, path, options):
    d = anchor_dims(state, {"D": ("dim_reduction.fc1.weight", 1), "H": ("dim_reduction.fc1.weight", 0),
                            "A": ("attention.attention_V.0.weight", 0), "C": ("classifier.fc.weight", 0)}, path, "dtfd")
    distill = options.get("distill", "AFS")
    if distill.lower() not in _DISTILL:
        raise EvidentError(None, f"--peer-option distill={distill!r} for dtfd: use AFS, MaxMinS or MaxS")
    groups, total = _positive(options, "n_groups", 4), _positive(options, "total_instance", 4)
    if total // groups < 1:
        raise EvidentError(None, f"dtfd: total_instance ({total}) // n_groups ({groups}) must be at least 1")
    d |= {"groups": groups, "per_group": total // groups, "distill": list(_DISTILL).index(distill.lower())}
    return d


def _gated(prefix, h, a):
    return {f"{prefix}attention_V.0.weight": (a, h), f"{prefix}attention_V.0.bias": (a,),
            f"{prefix}attention_U.0.weight": (a, h), f"{prefix}attention_U.0.bias": (a,),
            f"{prefix}attention_weights.weight": (1, a), f"{prefix}attention_weights.bias": (1,)}


def _expected(d):
    h, a, c = d["H"], d["A"], d["C"]
    return ({"dim_reduction.fc1.weight": (h, d["D"]), "classifier.fc.weight": (c, h), "classifier.fc.bias": (c,),
             "att_classifier.classifier.fc.weight": (c, h), "att_classifier.classifier.fc.bias": (c,)}
            | _gated("attention.", h, a) | _gated("att_classifier.attention.", h, a))


def _convert(state, d):
    sd = {"fc.0.weight": state["dim_reduction.fc1.weight"],
          "classifier1.weight": state["classifier.fc.weight"], "classifier1.bias": state["classifier.fc.bias"],
          "classifier2.1.weight": state["att_classifier.classifier.fc.weight"],
          "classifier2.1.bias": state["att_classifier.classifier.fc.bias"]}
    for ours, theirs in (("attention1.", "attention."), ("attention2.", "att_classifier.attention.")):
        for o, t in (("v.0", "attention_V.0"), ("u.0", "attention_U.0"), ("w", "attention_weights")):
            for p in ("weight", "bias"):
                sd[f"{ours}{o}.{p}"] = state[f"{theirs}{t}.{p}"]
    extra = (("distill", list(_DISTILL.values())[d["distill"]]), ("instances_per_group", d["per_group"]),
             ("n_groups", d["groups"]))
    config = HostConfig(in_dim=d["D"], n_outputs=d["C"], hidden=d["H"], attn_hidden=d["A"], dropout=0.0, extra=extra)
    return Imported("dtfd_peer", config, sd, note="one deterministic pseudo-bag split (the peer averages random ones)")


FORMAT = PeerFormat("dtfd", CODE, 1, _infer, _expected, _convert, "DTFD-MIL (port: host dtfd_peer)",
                    options=("distill", "n_groups", "total_instance"))
