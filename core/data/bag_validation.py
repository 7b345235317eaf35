"""Checks a feature bag must pass before anything uses it (one clear error naming the file)."""

from __future__ import annotations

import os

import numpy as np

from core.data.bag import FeatureBag
from core.errors import EvidentError

__all__ = ["as_features", "as_coords", "validate_bag"]


def as_features(raw: np.ndarray, path: str | os.PathLike | None) -> np.ndarray:
    """Return ``raw`` as (N, D) float32, squeezing CLAM's occasional (1, N, D).

    Raises
    ------
    EvidentError
        Not numeric, or not 2-D after squeezing a leading axis of length 1.
    """
    arr = np.asarray(raw)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype.kind not in "biuf":
        raise EvidentError(path, f"features are not numeric (dtype {arr.dtype})")
    if arr.ndim != 2:
        raise EvidentError(path, f"features must be (N, D), found shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_coords(raw: np.ndarray, path: str | os.PathLike | None) -> np.ndarray:
    """Return ``raw`` as (N, 2) int64 level-0 (x, y); a leading axis of length 1 is squeezed.

    Float coordinates are accepted only when they are whole numbers.

    Raises
    ------
    EvidentError
        Not numeric, not (N, 2), not finite, or fractional.
    """
    arr = np.asarray(raw)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype.kind not in "biuf":
        raise EvidentError(path, f"coords are not numeric (dtype {arr.dtype})")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise EvidentError(path, f"coords must be (N, 2), found shape {tuple(arr.shape)}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise EvidentError(path, "coords contain NaN or Inf")
        if not np.array_equal(arr, np.round(arr)):
            raise EvidentError(path, "coords are not whole pixel numbers")
    return np.ascontiguousarray(arr, dtype=np.int64)


def validate_bag(
    bag: FeatureBag,
    path: str | os.PathLike | None,
    *,
    slide_dimensions: tuple[int, int] | None = None,
    feature_dim: int | None = None,
) -> None:
    """Check a bag: shapes agree, N > 0, finite features, coords inside the slide, D as expected.

    Parameters
    ----------
    bag
        ``features`` (N, D) float, ``coords`` (N, 2) integer.
    path
        Named in the error (the file the bag came from or goes to).
    slide_dimensions
        Level-0 (width, height); every top-left corner must satisfy 0 <= x < width, 0 <= y < height.
        Negative coordinates are always an error.
    feature_dim
        Expected D.

    Raises
    ------
    EvidentError
        The first problem found.
    """
    f, c = np.asarray(bag.features), np.asarray(bag.coords)
    if f.ndim != 2:
        raise EvidentError(path, f"features must be (N, D), found shape {tuple(f.shape)}")
    if c.ndim != 2 or c.shape[1] != 2:
        raise EvidentError(path, f"coords must be (N, 2), found shape {tuple(c.shape)}")
    if f.shape[0] != c.shape[0]:
        raise EvidentError(path, f"features have {f.shape[0]} rows but coords have {c.shape[0]}")
    if f.shape[0] == 0:
        raise EvidentError(path, "empty bag (no patches)")
    if f.shape[1] == 0:
        raise EvidentError(path, "features have width 0")
    if feature_dim is not None and f.shape[1] != int(feature_dim):
        raise EvidentError(path, f"features have width {f.shape[1]} but the model expects {int(feature_dim)}")
    finite = np.isfinite(f).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise EvidentError(path, f"features contain NaN or Inf in {bad.size} patch(es), first at row {bad[0]}")
    if bag.patch_size_level0 is not None and bag.patch_size_level0 <= 0:
        raise EvidentError(path, f"patch size must be positive, found {bag.patch_size_level0}")
    neg = (c < 0).any(axis=1)
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise EvidentError(path, f"negative coords at row {i}: ({c[i, 0]}, {c[i, 1]})")
    if slide_dimensions is not None:
        w, h = int(slide_dimensions[0]), int(slide_dimensions[1])
        out = (c[:, 0] >= w) | (c[:, 1] >= h)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise EvidentError(path, f"{int(out.sum())} patch(es) lie outside the {w} x {h} slide, "
                                     f"first at row {i}: ({c[i, 0]}, {c[i, 1]})")
