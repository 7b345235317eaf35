"""Tiny random-weight models of the foundation encoders' architectures, saved to local files (no hub)."""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["TINY_VIT", "TINY_RESNET", "save_tiny_foundation", "save_tiny_resnet", "save_state_dict"]

#: Overrides that shrink a named ViT encoder to 2 blocks of width 48 (SwiGLU needs an even hidden width) (its other kwargs kept).
TINY_VIT = {"depth": 2, "embed_dim": 48, "num_heads": 2}
#: timm resnet18 arguments giving a 4-block ResNet with 8..64 channels (about 0.16 M parameters).
TINY_RESNET = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_width": 8}


def save_state_dict(sd: dict, path: Path) -> Path:
    """Write ``sd`` as ``.safetensors`` or with ``torch.save`` by the suffix of ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save(sd, path)
    return path


def save_tiny_foundation(name: str, path: Path, seed: int = 0):
    """Build the named encoder's architecture with :data:`TINY_VIT`, random weights (seed), save its
    state dict (CONCH: under ``visual.`` with a text-tower key, as a CONCH checkpoint) to ``path``;
    return the in-memory model."""
    from core.extract.encoders.foundation import FOUNDATION_ENCODERS
    from core.extract.encoders.timm_encoder import foundation_model

    torch.manual_seed(seed)
    model = foundation_model(FOUNDATION_ENCODERS[name], TINY_VIT).eval()
    sd = model.state_dict()
    if name == "conch_v1":
        sd = {f"visual.{k}": v for k, v in sd.items()}
        sd["visual.proj_contrast"] = torch.zeros(512, 512)
        sd["text.token_embedding.weight"] = torch.zeros(4, 8)
    save_state_dict(sd, path)
    return model


def save_tiny_resnet(path: Path, seed: int = 0):
    """A tiny timm ``resnet18`` (:data:`TINY_RESNET`, pooled features) with random weights saved to ``path``."""
    from core.extract.encoders.timm_encoder import timm_model

    torch.manual_seed(seed)
    model = timm_model("resnet18", num_classes=0, **TINY_RESNET).eval()
    save_state_dict(model.state_dict(), path)
    return model
