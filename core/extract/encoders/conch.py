"""CONCH v1's image tower (CoCa vision tower), ported so that no CONCH package is needed.

Follows github.com/mahmoodlab/CONCH at 141cc09c7d4ff33d8eda562bd75169b457f71a62:
``conch/open_clip_custom/coca_model.py`` (``_build_vision_tower``: a timm ``VisionTransformer``
trunk whose ``forward`` is ``forward_features``), ``vision_tower.py`` (``VisualModel.forward_no_head``:
attentional pooling with one query, then ``ln_contrast``) and ``transformer.py``
(``AttentionalPooler``). This is ``model.encode_image(x, proj_contrast=False, normalize=False)``,
the call TRIDENT's ``Conchv1InferenceEncoder`` makes: (B, 3, 448, 448) -> (B, 512).

Parameter names equal CONCH's under ``visual.``, so a CONCH checkpoint (``pytorch_model.bin``) loads
with the prefix ``visual.`` and the caption/projection/text parts ignored (:data:`IGNORED`).
"""

from __future__ import annotations

from typing import Any

from core.torchvision_compat import prepare_torchvision

__all__ = ["build_conch_tower", "IGNORED", "PREFIX"]

PREFIX = "visual."
#: Key prefixes (after :data:`PREFIX`) of a CONCH checkpoint the image tower does not use.
IGNORED = ("proj_contrast", "attn_pool_caption.", "ln_caption.", "head.")


def build_conch_tower(trunk_kwargs: dict[str, Any], embed_dim: int = 512, heads: int = 8):
    """The tower with random weights: a ``torch.nn.Module`` mapping (B, 3, S, S) -> (B, embed_dim).

    Parameters
    ----------
    trunk_kwargs
        ``timm.models.vision_transformer.VisionTransformer`` arguments (CONCH: ViT-B/16 at 448 px).
    embed_dim, heads
        Width and heads of the attentional pooler (CONCH: 512, 8).
    """
    import torch  # local: torch only when used
    from torch import nn

    prepare_torchvision()
    from timm.models.vision_transformer import VisionTransformer  # local: timm only when used

    class AttentionalPooler(nn.Module):
        def __init__(self, d_model: int, context_dim: int, n_head: int, n_queries: int) -> None:
            super().__init__()
            self.query = nn.Parameter(torch.randn(n_queries, d_model))
            self.attn = nn.MultiheadAttention(d_model, n_head, kdim=context_dim, vdim=context_dim)
            self.ln_q = nn.LayerNorm(d_model)
            self.ln_k = nn.LayerNorm(context_dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C) -> (B, Q, d_model)
            x = self.ln_k(x).permute(1, 0, 2)  # (L, B, C)
            q = self.ln_q(self.query).unsqueeze(1).repeat(1, x.shape[1], 1)  # (Q, B, d)
            return self.attn(q, x, x, need_weights=False)[0].permute(1, 0, 2)

    class ConchVisionTower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = VisionTransformer(**trunk_kwargs)
            self.attn_pool_contrast = AttentionalPooler(embed_dim, self.trunk.num_features, heads, 1)
            self.ln_contrast = nn.LayerNorm(embed_dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, embed_dim)
            tokens = self.trunk.forward_features(x)  # (B, 1 + P, C)
            return self.ln_contrast(self.attn_pool_contrast(tokens)[:, 0])

    return ConchVisionTower()
