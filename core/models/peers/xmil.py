"""xMIL models from bifold-pathomics/xMIL: ``models/attention_mil.py`` and ``models/transmil.py``.

Which of the two a checkpoint holds is read from its keys:

* ``AttentionMILModel`` (``linear_layers.0.0``, ``attention.0``/``attention.2``, and ``classifier``
  (main branch) or ``linear_head`` (``xmil-journal`` branch); one linear layer, no output layers,
  as xMIL's defaults) -> :class:`core.models.attention_mil.AttentionMIL`;
* ``TransMIL`` (``translayers.0``/``translayers.1``, ``_fc1``, ``pos_layer``, ``_fc2``; two layers,
  class-token pooling, PPEG, biases) -> :class:`core.models.transmil_peer.TransMILPeer`. xMIL's
  attention (``models/attention.py``) is lucidrains' Nyström attention with a ``"dot_prod"``
  alternative that the keys cannot tell apart: pass ``--peer-option attention=dot_prod`` for it.

More layers, ``BlockLinear`` encoders or ``bias=False`` show up as unexpected or missing keys.
"""

from __future__ import annotations

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.peers.format import Imported, PeerCode, PeerFormat, anchor_dims
from core.models.peers.transmil import transmil_convert, transmil_dims, transmil_keys

#: main branch (b6d216b last changed these files); the xmil-journal branch (a24d159) names the head ``linear_head``
CODE = PeerCode("bifold-pathomics/xMIL", "models/attention_mil.py, models/transmil.py, models/attention.py",
                "b6d216be4a7e76e46bb8fee0b89f24d36f0a4d24")
_LAYERS = ("translayers.0.", "translayers.1.")
_ATTENTION = ("nystrom", "dot_prod")


def _infer(state, path, options):
    attention = options.get("attention", "nystrom")
    if attention not in _ATTENTION:
        raise EvidentError(None, f"--peer-option attention={attention!r} for xmil: use one of {', '.join(_ATTENTION)}")
    if any(k.startswith("translayers.") for k in state):
        d = transmil_dims(state, path, "xmil (TransMIL)", _LAYERS[0])
        d["transmil"], d["dot_prod"] = 1, int(attention == "dot_prod")
        return d
    head = _head(state)
    d = anchor_dims(state, {"D": ("linear_layers.0.0.weight", 1), "H": ("linear_layers.0.0.weight", 0),
                            "A": ("attention.0.weight", 0), "C": (f"{head}.weight", 0)}, path, "xmil (attention MIL)")
    d["transmil"], d["linear_head"] = 0, int(head == "linear_head")
    return d


def _head(state) -> str:
    """The classifier's name: ``classifier`` on xMIL's main branch, ``linear_head`` on its journal branch."""
    return "linear_head" if "linear_head.weight" in state else "classifier"


def _expected(d):
    if d["transmil"]:
        return transmil_keys(d, _LAYERS, (1, 1, d["H"]))
    h, a = d["H"], d["A"]
    head = "linear_head" if d["linear_head"] else "classifier"
    return {"linear_layers.0.0.weight": (h, d["D"]), "linear_layers.0.0.bias": (h,), "attention.0.weight": (a, h),
            "attention.0.bias": (a,), "attention.2.weight": (1, a), "attention.2.bias": (1,),
            f"{head}.weight": (d["C"], h), f"{head}.bias": (d["C"],)}


def _convert(state, d):
    if d["transmil"]:
        return transmil_convert(state, d, _LAYERS, "dot_prod" if d["dot_prod"] else "nystrom")
    sd = {"fc.0.weight": state["linear_layers.0.0.weight"], "fc.0.bias": state["linear_layers.0.0.bias"],
          "attention.v.0.weight": state["attention.0.weight"], "attention.v.0.bias": state["attention.0.bias"],
          "attention.w.weight": state["attention.2.weight"], "attention.w.bias": state["attention.2.bias"],
          "classifier.weight": state[f"{_head(state)}.weight"], "classifier.bias": state[f"{_head(state)}.bias"]}
    config = HostConfig(in_dim=d["D"], n_outputs=d["C"], hidden=d["H"], attn_hidden=d["A"], dropout=0.0)
    return Imported("attention_mil", config, sd)


FORMAT = PeerFormat("xmil", CODE, 1, _infer, _expected, _convert,
                    "xMIL attention MIL (host attention_mil) or TransMIL (host transmil_peer)", options=("attention",))
