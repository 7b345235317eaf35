"""A tiny random open_clip CLIP saved as an open_clip model folder (config + safetensors weights)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["save_tiny_clip"]


def save_tiny_clip(folder: Path, embed_dim: int, seed: int = 0) -> Path:
    """Write ``folder/open_clip_config.json`` and ``folder/open_clip_model.safetensors`` of a 1-layer
    CLIP whose joint embedding is ``embed_dim`` wide (text width 32, the standard CLIP tokenizer)."""
    import torch
    from safetensors.torch import save_file

    from core.torchvision_compat import prepare_torchvision

    prepare_torchvision()
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": {"embed_dim": embed_dim,
                         "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
                         "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
           "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder
