"""DTFD-MIL as its published code computes it (hrzhang1123/DTFD-MIL ``Main_DTFD_MIL.py``,
``Model/Attention.py``, ``Model/network.py``), for checkpoints trained there (docs/import_model.md).

Differences from Evident's own :class:`core.models.dtfd.DTFDMIL`, which this host subclasses:
the embedding ``DimReduction`` is ``ReLU(W h)`` without bias (and without residual blocks,
``numLayer_Res = 0``, the default); the per-instance CAM logits use the tier-1 classifier's weights
only (``get_cam_1d``); ``MaxMinS`` / ``MaxS`` distil the embeddings ``e_i`` of the chosen instances,
not ``a_i e_i``. Tier 1 (gated attention per pseudo-bag, softmax within it), tier 2
(``Attention_with_Classifier``) and the ``AFS`` rule are the same.

Pseudo-bags **[decision]**: DTFD's code splits a shuffled bag with ``np.array_split`` and, at test
time, averages the second tier's softmax over ``num_MeanInference`` random splits. Here, as in
:class:`DTFDMIL`, the split in eval mode is deterministic (patches ranked by a fixed random
projection, dealt round-robin into G groups), so a prediction is one split's, not an average over
random ones; given the same split, the output equals the peer's (tests/core/models/test_import_peers.py).
"""

from __future__ import annotations

from torch import nn

from core.models.base import HostConfig
from core.models.dtfd import DTFDMIL

__all__ = ["DTFDPeer"]


class DTFDPeer(DTFDMIL):
    """DTFD-MIL with the published code's embedding, CAM and distillation (options as :class:`DTFDMIL`)."""

    name = "dtfd_peer"
    distill_weighted = False
    cam_bias = False

    def __init__(self, config: HostConfig) -> None:
        super().__init__(config)
        self.fc = nn.Sequential(nn.Linear(config.in_dim, config.hidden, bias=False), nn.ReLU())
