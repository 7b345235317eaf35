"""Named pathology foundation-model encoders, as TRIDENT builds them (``--encoder NAME``).

Each :class:`FoundationSpec` records what TRIDENT sets for the encoder in
``trident/patch_encoder_models/load.py`` of github.com/mahmoodlab/TRIDENT at commit
a91fa8490e0210ebbbe58452c3babe009e0ab7ca (the class named in ``source``): the timm architecture and
keyword arguments, the eval transform (resize, centre crop, interpolation, mean/std), the inference
precision, the output width, and the patch size / magnification TRIDENT's README recommends for it
(table "Patch encoders"). The feature files take TRIDENT's encoder name (``features_uni_v1``, ...),
so TRIDENT and Evident find each other's files. CONCH v1's vision tower follows
github.com/mahmoodlab/CONCH at 141cc09c7d4ff33d8eda562bd75169b457f71a62
(``conch/open_clip_custom/coca_model.py``, ``vision_tower.py``, ``model_configs/conch_ViT-B-16.json``).

Weights are never bundled: pass ``--weights FILE`` (the ``pytorch_model.bin`` / ``.safetensors`` of
the model's Hugging Face repo, ``hub_repo``), or have the repo in the local Hugging Face cache.
See docs/bring_your_own.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FoundationSpec", "FOUNDATION_ENCODERS", "IMAGENET", "OPENAI_CLIP", "HOPTIMUS"]

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
HOPTIMUS = ((0.707223, 0.578729, 0.703617), (0.211883, 0.230117, 0.177517))


@dataclass(frozen=True)
class FoundationSpec:
    """How one named encoder is built and fed.

    Attributes
    ----------
    name
        TRIDENT's encoder name (the ``features_<name>`` folder).
    arch
        timm architecture passed to ``timm.create_model`` (``"conch"``: CONCH's CoCa vision tower).
    timm_kwargs
        Keyword arguments for ``timm.create_model``; the strings ``"SwiGLUPacked"`` and ``"SiLU"``
        stand for ``timm.layers.SwiGLUPacked`` and ``torch.nn.SiLU``.
    dim
        Output width D.
    resize, crop
        Eval transform: the shorter side is resized to ``resize`` px, then the centre
        ``crop`` x ``crop`` px is kept (``crop == resize``: no crop).
    interpolation
        ``"bilinear"`` (torchvision's default) or ``"bicubic"``.
    mean, std
        Per-channel normalisation of RGB in [0, 1].
    precision
        TRIDENT's inference dtype on GPU: ``"fp16"``, ``"bf16"`` or ``"fp32"``.
    pooling
        ``"model"`` (the model's pooled output), ``"cls_mean"`` (class token concatenated with the
        mean of the patch tokens after ``prefix_tokens`` leading tokens: Virchow/Virchow2).
    prefix_tokens
        Leading non-patch tokens (class + register tokens) for ``"cls_mean"``.
    patch_size, magnification
        Patch side in px and magnification TRIDENT recommends (the ``extract`` defaults).
    hub_repo, hub_files
        Hugging Face repo and the weight files looked for in the local cache.
    source
        The TRIDENT class this spec copies.
    """

    name: str
    arch: str
    timm_kwargs: dict[str, Any]
    dim: int
    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    precision: str
    patch_size: int
    magnification: float
    hub_repo: str
    source: str
    pooling: str = "model"
    prefix_tokens: int = 1
    hub_files: tuple[str, ...] = field(default=("pytorch_model.bin", "model.safetensors"))


_SWIGLU = {"mlp_layer": "SwiGLUPacked", "act_layer": "SiLU"}

FOUNDATION_ENCODERS: dict[str, FoundationSpec] = {s.name: s for s in (
    FoundationSpec(
        "uni_v1", "vit_large_patch16_224",
        {"img_size": 224, "patch_size": 16, "init_values": 1e-5, "num_classes": 0, "dynamic_img_size": True},
        1024, 224, 224, "bilinear", *IMAGENET, "fp16", 256, 20.0, "MahmoodLab/UNI", "UNIInferenceEncoder"),
    FoundationSpec(
        "uni_v2", "vit_giant_patch14_224",
        {"img_size": 224, "patch_size": 14, "depth": 24, "num_heads": 24, "init_values": 1e-5,
         "embed_dim": 1536, "mlp_ratio": 2.66667 * 2, "num_classes": 0, "no_embed_class": True,
         **_SWIGLU, "reg_tokens": 8, "dynamic_img_size": True},
        1536, 224, 224, "bilinear", *IMAGENET, "bf16", 256, 20.0, "MahmoodLab/UNI2-h", "UNIv2InferenceEncoder"),
    FoundationSpec(
        # CONCH's vision tower: timm ViT-B/16 trunk at 448 px (forward_features), attentional pooler
        # (1 query, 8 heads, 512 wide) and LayerNorm; encode_image(proj_contrast=False,
        # normalize=False) as TRIDENT's Conchv1InferenceEncoder calls it
        "conch_v1", "conch",
        {"img_size": 448, "patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0,
         "num_classes": 0, "dynamic_img_size": True},
        512, 448, 448, "bicubic", *OPENAI_CLIP, "fp32", 512, 20.0, "MahmoodLab/CONCH", "Conchv1InferenceEncoder"),
    FoundationSpec(
        "virchow2", "vit_huge_patch14_224",
        {"img_size": 224, "init_values": 1e-5, "num_classes": 0, "reg_tokens": 4, "mlp_ratio": 5.3375,
         "global_pool": "", "dynamic_img_size": True, **_SWIGLU},
        2560, 224, 224, "bicubic", *IMAGENET, "fp16", 224, 20.0, "paige-ai/Virchow2",
        "Virchow2InferenceEncoder", pooling="cls_mean", prefix_tokens=5),
    FoundationSpec(
        "hoptimus0", "vit_giant_patch14_reg4_dinov2",
        {"num_classes": 0, "img_size": 224, "global_pool": "token", "init_values": 1e-5, "dynamic_img_size": True},
        1536, 224, 224, "bilinear", *HOPTIMUS, "fp16", 224, 20.0, "bioptimus/H-optimus-0",
        "HOptimus0InferenceEncoder"),
    FoundationSpec(
        # TRIDENT's default transform: Resize(256, bicubic), CenterCrop(224)
        "gigapath", "vit_giant_patch14_dinov2",
        {"img_size": 224, "in_chans": 3, "patch_size": 16, "embed_dim": 1536, "depth": 40, "num_heads": 24,
         "mlp_ratio": 5.33334, "num_classes": 0, "dynamic_img_size": True},
        1536, 256, 224, "bicubic", *IMAGENET, "fp16", 256, 20.0, "prov-gigapath/prov-gigapath",
        "GigaPathInferenceEncoder"),
)}
