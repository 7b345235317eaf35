"""The eval transform of model encoders, on batches of uint8 patches, in torch.

``Resize(resize)`` of the shorter side (bilinear or bicubic, antialiased), ``CenterCrop(crop)``,
scaling to [0, 1] and ``Normalize(mean, std)``: torchvision's eval pipeline as TRIDENT and timm
compose it, applied to a whole batch on the inference device instead of one PIL image at a time.
Values are clamped to [0, 1] after resizing, as PIL's uint8 images are (bicubic overshoots).
Against PIL's resampling (what TRIDENT's transforms run on), measured on a real 256-px H&E patch
of the CMU slide resized to 224 px: mean absolute difference 0.21 grey levels (of 255) for both
modes, at most 1.0 (bilinear) and 6.6 (bicubic, at sharp edges) grey levels; so features of the
same weights differ slightly from TRIDENT's (docs/bring_your_own.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Preprocess"]


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to ``resize`` px, keep the centre ``crop`` px, normalise.

    Attributes
    ----------
    resize, crop
        Sides in px (``crop <= resize``).
    mean, std
        Per-channel statistics of RGB in [0, 1].
    interpolation
        ``"bilinear"`` or ``"bicubic"``.
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"need 0 < crop <= resize, got crop {self.crop}, resize {self.resize}")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"interpolation must be bilinear or bicubic, got {self.interpolation!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got {self.mean}, {self.std}")

    def __call__(self, patches):
        """(B, H, W, 3) uint8 tensor -> (B, 3, crop, crop) float32 tensor on the same device."""
        import torch  # local: torch only when used
        import torch.nn.functional as F  # local: torch only when used

        t = patches.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W) in [0, 1]
        h, w = t.shape[-2:]
        scale = self.resize / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        if size != (h, w):
            t = F.interpolate(t, size=size, mode=self.interpolation, align_corners=False,
                              antialias=True).clamp_(0.0, 1.0)
        top, left = (int(round((n - self.crop) / 2.0)) for n in size)  # as torchvision's CenterCrop
        t = t[..., top:top + self.crop, left:left + self.crop]
        mean = torch.tensor(self.mean, device=t.device, dtype=t.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=t.device, dtype=t.dtype).view(1, 3, 1, 1)
        return ((t - mean) / std).contiguous()
