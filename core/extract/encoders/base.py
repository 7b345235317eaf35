"""The one interface every patch encoder follows (:class:`PatchEncoder`).

Encoders are chosen by a spec string through :mod:`core.extract.encoders.registry`.
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["PatchEncoder", "check_patches"]


class PatchEncoder(abc.ABC):
    """Turns a batch of RGB patches into feature vectors.

    Attributes
    ----------
    name : str
        Short identifier written into feature files (``encoder`` attribute) and used in the output
        folder name ``features_<name>``; letters, digits, ``_``, ``-`` and ``.`` only.
    dim : int
        Feature width D.
    patch_size, magnification : int or None, float or None
        The patch side (px) and magnification the encoder was trained for, when it has them (the
        named foundation models); ``evident extract`` uses them unless told otherwise.
    """

    name: str
    dim: int
    patch_size: int | None = None
    magnification: float | None = None

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
