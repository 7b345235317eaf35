"""Read and write per-slide feature bags: CLAM / TRIDENT HDF5 files and ``.pt`` tensors.

Layouts read (``bag.attrs["layout"]`` says which one was seen):

``"trident"``
    ``features`` (N, D) float32 and ``coords`` (N, 2) int64; TRIDENT stores its patching
    attributes (``patch_size``, ``patch_size_level0``, ``level0_magnification``,
    ``target_magnification``, ``overlap``, ``level0_width``, ``level0_height``) on the ``coords``
    dataset (``trident.IO.coords_to_h5`` / ``save_h5``). Attributes on the file root and on
    ``features`` are read too; ``coords`` attributes win on a clash.
``"clam"``
    ``features`` (N, D) float32 (occasionally (1, N, D): squeezed) and ``coords`` (N, 2) int32;
    ``coords`` may carry ``patch_size``, ``patch_level`` and ``downsample`` (CLAM's patching file),
    from which the level-0 patch side is ``patch_size * downsample[0]``.
``"plain"``
    any other HDF5 file with ``features`` and ``coords``.
``"pt"``
    a ``torch.save``'d (N, D) tensor (CLAM ``pt_files``) plus coordinates from a separate ``.h5``
    (dataset ``coords``) or ``.npy`` (N, 2) file.

Every read is validated (see :func:`validate_bag`): one :class:`~core.errors.EvidentError` names the
file and the problem.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_path
from core.data.bag import FeatureBag
from core.data.bag_validation import as_coords, as_features, validate_bag
from core.data.feature_search import find_feature_file
from core.data.hdf5_attrs import plain_attrs, write_attrs
from core.data.hdf5_read import H5_ERRORS
from core.data.hdf5_read import read_dataset as _read_dataset
from core.errors import EvidentError

__all__ = ["read_bag", "write_bag", "find_feature_file", "validate_bag", "LAYOUTS"]

LAYOUTS = ("trident", "clam")
_H5_SUFFIXES = (".h5", ".hdf5", ".hdf")
_PT_SUFFIXES = (".pt", ".pth")
_TRIDENT_KEYS = ("patch_size_level0", "level0_magnification", "target_magnification", "level0_width")
_TRIDENT_ONLY = (*_TRIDENT_KEYS, "level0_height", "overlap")


def read_bag(
    path: str | os.PathLike,
    *,
    coords_path: str | os.PathLike | None = None,
    slide_dimensions: tuple[int, int] | None = None,
    feature_dim: int | None = None,
    patch_size_level0: int | None = None,
) -> FeatureBag:
    """Read and validate one slide's feature bag.

    Parameters
    ----------
    path
        ``.h5`` (CLAM or TRIDENT layout) or ``.pt`` file.
    coords_path
        Coordinates file (``.h5`` with a ``coords`` dataset, or ``.npy`` (N, 2)). Required for
        ``.pt`` bags unless one is found next to it (``../h5_files/<id>.h5``, ``../patches/<id>.h5``,
        ``<id>.npy``, ``<id>_coords.npy``); for ``.h5`` bags it replaces the file's own ``coords``.
    slide_dimensions
        Level-0 (width, height) of the slide; when given (or when the file carries
        ``level0_width``/``level0_height``) every patch's top-left corner must lie inside.
    feature_dim
        Expected D (the model's feature width).
    patch_size_level0
        Level-0 patch side; overrides what the file says (use it for files that carry none).

    Returns
    -------
    FeatureBag
        ``features`` (N, D) float32, ``coords`` (N, 2) int64, ``slide_id`` = file stem,
        ``attrs`` = the file's attributes plus ``"layout"``.

    Raises
    ------
    EvidentError
        Missing or unreadable file, missing dataset, wrong shapes, N = 0, NaN/Inf, coords outside
        the slide, D != ``feature_dim``.
    """
    p = Path(path)
    if not p.is_file():
        raise EvidentError(p, "feature file not found")
    if p.suffix.lower() in _PT_SUFFIXES:
        features, coords, attrs = _read_pt(p, coords_path)
    else:
        features, coords, attrs = _read_h5(p, coords_path)
    size = patch_size_level0 if patch_size_level0 is not None else _patch_size_level0(attrs)
    dims = slide_dimensions if slide_dimensions is not None else _slide_dimensions(attrs)
    bag = FeatureBag(features=features, coords=coords, patch_size_level0=None if size is None else int(size),
                     slide_id=p.stem, source=str(p), attrs=attrs)
    validate_bag(bag, p, slide_dimensions=dims, feature_dim=feature_dim)
    return bag


def write_bag(path: str | os.PathLike, bag: FeatureBag, layout: str = "trident") -> None:
    """Write ``bag`` to an HDF5 file atomically, in TRIDENT (default) or CLAM layout.

    TRIDENT: ``features`` float32, ``coords`` int64 carrying ``bag.attrs`` and
    ``patch_size_level0``. CLAM: ``features`` float32, ``coords`` int32 carrying ``patch_size``,
    ``patch_level`` and ``downsample`` (CLAM's own when the bag came from a CLAM file, else the
    level-0 patch side at level 0) and the other attributes except TRIDENT's (so the slide size
    ``level0_width``/``level0_height`` is not kept). The bag is validated first; an invalid bag
    writes nothing.

    Raises
    ------
    EvidentError
        Unknown layout, invalid bag, coords too large for CLAM's int32, unwritable folder.
    """
    import h5py  # local: h5py only when used

    p = Path(path)
    if layout not in LAYOUTS:
        raise EvidentError(p, f"unknown bag layout {layout!r} (use one of: {', '.join(LAYOUTS)})")
    validate_bag(bag, p)
    attrs = {k: v for k, v in bag.attrs.items() if k != "layout"}
    coords = np.asarray(bag.coords, dtype=np.int64)
    if layout == "clam":
        if coords.size and (coords.max() > np.iinfo(np.int32).max or coords.min() < np.iinfo(np.int32).min):
            raise EvidentError(p, "coords do not fit CLAM's int32 coordinates; use the trident layout")
        coords = coords.astype(np.int32)
        attrs = {k: v for k, v in attrs.items() if k not in _TRIDENT_ONLY}
        if "patch_level" not in attrs:
            attrs.pop("patch_size", None)
            if bag.patch_size_level0 is not None:
                attrs.update(patch_size=int(bag.patch_size_level0), patch_level=0, downsample=[1.0, 1.0])
    elif bag.patch_size_level0 is not None:
        attrs["patch_size_level0"] = int(bag.patch_size_level0)
    with atomic_path(p) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=np.ascontiguousarray(bag.features, dtype=np.float32))
        dset = f.create_dataset("coords", data=coords)
        write_attrs(dset, attrs)


def _read_h5(p: Path, coords_path: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    import h5py  # local: h5py only when used

    if not h5py.is_hdf5(p):
        raise EvidentError(p, "not an HDF5 file")
    try:
        with h5py.File(p, "r") as f:
            if "features" not in f:
                hint = " (it looks like a patch-coordinates file)" if "coords" in f else ""
                raise EvidentError(p, f"missing dataset 'features'{hint}")
            if not isinstance(f["features"], h5py.Dataset):
                raise EvidentError(p, "'features' is not a dataset")
            features = as_features(_read_dataset(f["features"], p, "features"), p)
            attrs = plain_attrs(f.attrs)
            attrs.update(plain_attrs(f["features"].attrs))
            raw_coords = None
            if "coords" in f and isinstance(f["coords"], h5py.Dataset):
                attrs.update(plain_attrs(f["coords"].attrs))
                raw_coords = _read_dataset(f["coords"], p, "coords")
    except H5_ERRORS as exc:  # h5py's damaged-file and unreadable-dtype errors
        raise EvidentError(p, f"cannot read the HDF5 file ({exc})") from None
    if coords_path is not None:
        coords, extra = _read_coords_file(Path(coords_path))
        attrs.update(extra)
    elif raw_coords is None:
        raise EvidentError(p, "missing dataset 'coords'")
    else:
        coords = as_coords(raw_coords, p)
    if any(k in attrs for k in _TRIDENT_KEYS):
        attrs["layout"] = "trident"
    elif "patch_level" in attrs or (raw_coords is not None and raw_coords.dtype == np.int32):
        attrs["layout"] = "clam"
    else:
        attrs["layout"] = "plain"
    return features, coords, attrs


def _read_pt(p: Path, coords_path: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    import torch  # local: torch only when used

    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before failing on them
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load on damaged bytes raises almost any type
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvidentError(p, f"not a readable PyTorch tensor file ({first})") from None
    coords = None
    if isinstance(obj, dict) and "features" in obj:
        coords = obj.get("coords")
        obj = obj["features"]
    if not isinstance(obj, torch.Tensor):
        raise EvidentError(p, f"expected a (N, D) tensor, found {type(obj).__name__}")
    features = as_features(obj.detach().float().numpy(), p)
    attrs: dict[str, Any] = {}
    if coords_path is None and coords is None:
        coords_path = _find_coords_for_pt(p)
        if coords_path is None:
            raise EvidentError(p, "no coordinates: pass a coords file (.h5 with 'coords', or .npy (N, 2))")
    if coords_path is not None:
        coords, attrs = _read_coords_file(Path(coords_path))
    else:
        coords = as_coords(coords.detach().numpy() if isinstance(coords, torch.Tensor) else np.asarray(coords), p)
    attrs["layout"] = "pt"
    return features, coords, attrs


def _find_coords_for_pt(p: Path) -> Path | None:
    stem = p.stem
    for cand in (p.parent.parent / "h5_files" / f"{stem}.h5", p.parent.parent / "patches" / f"{stem}.h5",
                 p.with_suffix(".npy"), p.parent / f"{stem}_coords.npy"):
        if cand.is_file():
            return cand
    return None


def _read_coords_file(c: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Coordinates (N, 2) int64 and attributes from a ``.h5`` (dataset ``coords``) or ``.npy`` file."""
    import h5py  # local: h5py only when used

    if not c.is_file():
        raise EvidentError(c, "coordinates file not found")
    if c.suffix.lower() == ".npy":
        try:
            raw = np.load(c, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise EvidentError(c, f"not a readable .npy array ({exc})") from None
        return as_coords(raw, c), {}
    if not h5py.is_hdf5(c):
        raise EvidentError(c, "coordinates file is neither HDF5 (.h5) nor .npy")
    try:
        with h5py.File(c, "r") as f:
            if "coords" not in f or not isinstance(f["coords"], h5py.Dataset):
                raise EvidentError(c, "missing dataset 'coords'")
            return as_coords(_read_dataset(f["coords"], c, "coords"), c), plain_attrs(f["coords"].attrs)
    except H5_ERRORS as exc:
        raise EvidentError(c, f"cannot read the HDF5 file ({exc})") from None


def _slide_dimensions(attrs: dict[str, Any]) -> tuple[int, int] | None:
    """Level-0 (width, height) from TRIDENT's ``level0_width``/``level0_height``, if usable."""
    try:
        w, h = int(attrs["level0_width"]), int(attrs["level0_height"])
    except (KeyError, TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def _patch_size_level0(attrs: dict[str, Any]) -> int | None:
    """Level-0 patch side from TRIDENT or CLAM attributes, ``None`` when they do not say."""

    def num(key: str) -> float | None:
        v = attrs.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        try:
            return None if v is None or isinstance(v, bool) else float(v)
        except (TypeError, ValueError):
            return None

    if num("patch_size_level0"):
        return int(round(num("patch_size_level0")))
    size = num("patch_size")
    if not size:
        return None
    if num("downsample"):
        return int(round(size * num("downsample")))
    if num("level0_magnification") and num("target_magnification"):
        return int(size * num("level0_magnification") // num("target_magnification"))
    if num("patch_level") == 0:
        return int(round(size))
    return None
