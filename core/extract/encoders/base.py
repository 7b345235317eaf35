"""The one interface every patch encoder follows, and how an encoder is chosen from a spec string.

Specs:

``builtin``
    :class:`core.extract.encoders.builtin.StainTextureEncoder`: hand-made stain and texture
    features, deterministic, no downloaded weights.
``torchscript:PATH``
    :class:`core.extract.encoders.torchscript.TorchScriptEncoder`: a TorchScript module the user
    supplies (for example a pathology foundation model exported with ``torch.jit.trace``).
"""

from __future__ import annotations

import abc

import numpy as np

from core.errors import EvidentError

__all__ = ["PatchEncoder", "build_encoder", "ENCODER_SPECS"]

ENCODER_SPECS = ("builtin", "torchscript:PATH")


class PatchEncoder(abc.ABC):
    """Turns a batch of RGB patches into feature vectors.

    Attributes
    ----------
    name : str
        Short identifier written into feature files (``encoder`` attribute) and used in the output
        folder name ``features_<name>``; letters, digits, ``_``, ``-`` and ``.`` only.
    dim : int
        Feature width D.
    """

    name: str
    dim: int

    @abc.abstractmethod
    def encode(self, patches: np.ndarray) -> np.ndarray:
        """Encode a batch.

        Parameters
        ----------
        patches
            (B, H, W, 3) uint8 RGB.

        Returns
        -------
        np.ndarray
            (B, dim) float32, finite.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def check_patches(patches: np.ndarray) -> np.ndarray:
    """Return ``patches`` as a C-contiguous (B, H, W, 3) uint8 array or raise ``ValueError``."""
    arr = np.asarray(patches)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"patches must be (B, H, W, 3) uint8, got {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr)


def build_encoder(
    spec: str = "builtin",
    *,
    device: str | None = None,
    size: int | None = 224,
    normalization: str = "imagenet",
) -> PatchEncoder:
    """Build the encoder a spec string names (see the module docstring).

    Parameters
    ----------
    spec
        ``"builtin"`` or ``"torchscript:PATH"``.
    device
        Torch device for model encoders (``None``/``"auto"``: CUDA, then MPS, then CPU).
    size
        Model encoders: side the patches are resized to (``None`` or 0: as extracted).
    normalization
        Model encoders: ``"imagenet"``, ``"clip"`` or ``"none"`` (see
        :data:`core.extract.encoders.torchscript.NORMALIZATIONS`).

    Raises
    ------
    EvidentError
        Unknown spec, or a model file that cannot be loaded or gives the wrong output shape.
    """
    spec = (spec or "").strip()
    if spec == "builtin":
        from core.extract.encoders.builtin import StainTextureEncoder

        return StainTextureEncoder()
    kind, sep, rest = spec.partition(":")
    if sep and kind == "torchscript":
        if not rest:
            raise EvidentError(None, "encoder spec 'torchscript:' needs a file path (torchscript:PATH)")
        from core.extract.encoders.torchscript import TorchScriptEncoder

        return TorchScriptEncoder(rest, device=device, size=size or None, normalization=normalization)
    raise EvidentError(None, f"unknown encoder {spec!r} (use one of: {', '.join(ENCODER_SPECS)})")
