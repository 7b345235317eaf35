"""TransMIL from szc19990412/TransMIL ``models/TransMIL.py`` -> the port ``transmil_peer``.

Peer layout: ``_fc1`` (Linear D→512 + ReLU), ``cls_token`` (1, 1, H), ``layer1``/``layer2``
(``TransLayer``: LayerNorm + lucidrains ``NystromAttention`` with 8 heads of H/8, H/2 landmarks,
6 pseudo-inverse steps and the 33×1 value convolution), ``pos_layer`` (PPEG: ``proj`` 7×7,
``proj1`` 5×5, ``proj2`` 3×3 depthwise), ``norm``, ``_fc2``. The width is read from the checkpoint
(the published code fixes D = 1024, H = 512). Also used for xMIL's TransMIL, whose layers sit in
``translayers.0``/``translayers.1`` (:mod:`core.models.peers.xmil`).
"""

from __future__ import annotations

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.peers.format import Imported, PeerCode, PeerFormat, anchor_dims

CODE = PeerCode("szc19990412/TransMIL", "models/TransMIL.py", "0db153547b3acbb89459c8cf47fd0fc064f5dfd1")
#: the attention module TransMIL imports (nystrom_attention.NystromAttention)
ATTENTION_CODE = PeerCode("lucidrains/nystrom-attention", "nystrom_attention/nystrom_attention.py",
                          "08a7754a76fd74fde6545b7ebfd6fb4658dd55cb")
HEADS = 8
KERNEL = 33


def transmil_dims(state, path, peer, layer0):
    """D, H, C from the checkpoint; ``layer0`` is the first transformer layer's key prefix."""
    d = anchor_dims(state, {"D": ("_fc1.0.weight", 1), "H": ("_fc1.0.weight", 0), "C": ("_fc2.weight", 0)}, path, peer)
    if d["H"] % HEADS:
        raise EvidentError(path, f"{peer}: width {d['H']} (from _fc1.0.weight) is not divisible by the {HEADS} heads")
    d["residual"] = int(f"{layer0}attn.res_conv.weight" in state)
    return d


def transmil_keys(d, layers, cls_shape):
    """Every key of a (peer) TransMIL with widths ``d`` and transformer-layer prefixes ``layers``."""
    h = d["H"]
    keys = {"cls_token": cls_shape, "_fc1.0.weight": (h, d["D"]), "_fc1.0.bias": (h,),
            "pos_layer.proj.weight": (h, 1, 7, 7), "pos_layer.proj.bias": (h,),
            "pos_layer.proj1.weight": (h, 1, 5, 5), "pos_layer.proj1.bias": (h,),
            "pos_layer.proj2.weight": (h, 1, 3, 3), "pos_layer.proj2.bias": (h,),
            "norm.weight": (h,), "norm.bias": (h,), "_fc2.weight": (d["C"], h), "_fc2.bias": (d["C"],)}
    for p in layers:
        keys |= {f"{p}norm.weight": (h,), f"{p}norm.bias": (h,), f"{p}attn.to_qkv.weight": (3 * h, h),
                 f"{p}attn.to_out.0.weight": (h, h), f"{p}attn.to_out.0.bias": (h,)}
        if d["residual"]:
            keys[f"{p}attn.res_conv.weight"] = (HEADS, 1, KERNEL, 1)
    return keys


def transmil_convert(state, d, layers, attention: str) -> Imported:
    """The peer's tensors under :class:`core.models.transmil_peer.TransMILPeer`'s names."""
    h = d["H"]
    sd = {"fc.0.weight": state["_fc1.0.weight"], "fc.0.bias": state["_fc1.0.bias"],
          "cls_token": state["cls_token"].reshape(1, h), "norm.weight": state["norm.weight"], "norm.bias": state["norm.bias"],
          "classifier.weight": state["_fc2.weight"], "classifier.bias": state["_fc2.bias"]}
    for ours, theirs in (("proj7", "proj"), ("proj5", "proj1"), ("proj3", "proj2")):
        for p in ("weight", "bias"):
            sd[f"ppeg.{ours}.{p}"] = state[f"pos_layer.{theirs}.{p}"]
    for ours, theirs in zip(("layer1.", "layer2."), layers, strict=True):
        sd |= {f"{ours}norm.weight": state[f"{theirs}norm.weight"], f"{ours}norm.bias": state[f"{theirs}norm.bias"],
               f"{ours}attn.qkv.weight": state[f"{theirs}attn.to_qkv.weight"],
               f"{ours}attn.out.0.weight": state[f"{theirs}attn.to_out.0.weight"],
               f"{ours}attn.out.0.bias": state[f"{theirs}attn.to_out.0.bias"]}
        if d["residual"]:
            sd[f"{ours}attn.res_conv.weight"] = state[f"{theirs}attn.res_conv.weight"]
    extra = (("attention", attention), ("heads", HEADS), ("landmarks", h // 2), ("residual_kernel", KERNEL if d["residual"] else 0))
    config = HostConfig(in_dim=d["D"], n_outputs=d["C"], hidden=h, attn_hidden=h // 2, dropout=0.0, extra=extra)
    return Imported("transmil_peer", config, sd)


_LAYERS = ("layer1.", "layer2.")


def _infer(state, path, options):
    return transmil_dims(state, path, "transmil", _LAYERS[0])


FORMAT = PeerFormat("transmil", CODE, 1, _infer, lambda d: transmil_keys(d, _LAYERS, (1, 1, d["H"])),
                    lambda s, d: transmil_convert(s, d, _LAYERS, "nystrom"),
                    "TransMIL with lucidrains' Nyström attention (port: host transmil_peer)")
