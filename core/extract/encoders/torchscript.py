"""A patch encoder from a TorchScript file the user supplies (``--encoder torchscript:PATH``).

``torch.jit.load`` runs the code stored in the file: this is the one place in Evident where code
from a model file runs, and only because the user named the file explicitly as their encoder (a
foundation model exported with ``torch.jit.trace``/``torch.jit.script``). Checkpoints of MIL models
are never loaded this way (see :mod:`core.models.checkpoint`).

The module receives a float32 tensor (B, 3, S, S) of RGB values scaled to [0, 1], normalised by the
chosen mean and standard deviation and resized (bilinear, antialiased) to ``S = size``; it must
return (B, D) features (a tuple/list output uses its first element). Inference runs in batches
under ``torch.inference_mode()`` on the chosen device (CUDA, then MPS, then CPU by default).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from core.device import pick_device
from core.errors import EvidentError
from core.extract.encoders.base import PatchEncoder, check_patches

__all__ = ["TorchScriptEncoder", "NORMALIZATIONS"]

NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]] | None] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "none": None,  # [0, 1] RGB as is
}


class TorchScriptEncoder(PatchEncoder):
    """Encode patches with a TorchScript module.

    Parameters
    ----------
    path
        The TorchScript file (``.pt``/``.pth``/``.torchscript``).
    device
        Torch device string; ``None``/``"auto"`` picks CUDA, then MPS, then CPU.
    size
        Side S the patches are resized to before the module sees them; ``None`` keeps the
        extracted size.
    normalization
        A key of :data:`NORMALIZATIONS` (default ImageNet mean/std).
    name
        Encoder name for the output files; default the file stem (made filename-safe).

    Attributes
    ----------
    dim : int
        D, found by running the module once on a small batch when it is built.

    Raises
    ------
    EvidentError
        Missing file, not a TorchScript file, a module that fails on a (2, 3, S, S) batch or does not
        return (2, D) finite features (naming the file).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str | None = None,
        size: int | None = 224,
        normalization: str = "imagenet",
        name: str | None = None,
    ) -> None:
        import torch  # local: torch only when used


        self.path = Path(path)
        if normalization not in NORMALIZATIONS:
            raise EvidentError(None, f"unknown normalization {normalization!r} "
                                     f"(use one of: {', '.join(NORMALIZATIONS)})")
        if size is not None and size <= 0:
            raise EvidentError(None, f"encoder input size must be positive, got {size}")
        self.device = pick_device(device)
        if not self.path.is_file():
            raise EvidentError(self.path, "TorchScript encoder file not found")
        try:
            with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; the user chose it
                warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit")
                self.module = torch.jit.load(str(self.path), map_location=self.device)
        except (RuntimeError, ValueError, OSError) as exc:
            raise EvidentError(self.path, f"not a TorchScript module ({_first_sentence(exc)})") from None
        self.module.eval()
        self.size = size
        self.normalization = normalization
        norm = NORMALIZATIONS[normalization]
        self._mean = None if norm is None else torch.tensor(norm[0], device=self.device).view(1, 3, 1, 1)
        self._std = None if norm is None else torch.tensor(norm[1], device=self.device).view(1, 3, 1, 1)
        self.name = name or (re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.stem) or "torchscript")
        probe = self._run(np.full((2, size or 32, size or 32, 3), 128, dtype=np.uint8))
        self.dim = int(probe.shape[1])

    def encode(self, patches: np.ndarray) -> np.ndarray:
        """Encode a batch: (B, H, W, 3) uint8 RGB -> (B, dim) float32."""
        x = check_patches(patches)
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._run(x)
        if out.shape[1] != self.dim:
            raise EvidentError(self.path, f"module returned {out.shape[1]} features for this batch, "
                                          f"{self.dim} before")
        return out

    def _run(self, x: np.ndarray) -> np.ndarray:
        import torch  # local: torch only when used
        import torch.nn.functional as F  # local: torch only when used

        b = x.shape[0]
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device)  # (B, H, W, 3) uint8
            t = t.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W) float32 in [0, 1]
            if self.size is not None and tuple(t.shape[-2:]) != (self.size, self.size):
                t = F.interpolate(t, size=(self.size, self.size), mode="bilinear",
                                  align_corners=False, antialias=True)  # (B, 3, S, S)
            if self._mean is not None:
                t = (t - self._mean) / self._std
            try:
                out = self.module(t)
            except Exception as exc:  # the user's module: any failure is a problem with that file
                raise EvidentError(self.path, f"module failed on a batch of shape {tuple(t.shape)} "
                                              f"({_first_sentence(exc)})") from None
            if isinstance(out, tuple | list) and out:
                out = out[0]
            if not isinstance(out, torch.Tensor):
                raise EvidentError(self.path, f"module returned {type(out).__name__}, not a tensor")
            if out.ndim != 2 or out.shape[0] != b:
                raise EvidentError(self.path, f"module must return (B, D) features; for B={b} it "
                                              f"returned shape {tuple(out.shape)}")
            arr = out.float().cpu().numpy()  # (B, D) float32
        if not np.isfinite(arr).all():
            raise EvidentError(self.path, "module returned NaN or Inf features")
        return np.ascontiguousarray(arr, dtype=np.float32)


def _first_sentence(exc: BaseException) -> str:
    """The first line / sentence of an exception's message (torch's are long)."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0]
    return first.split(". ")[0].rstrip(".")
