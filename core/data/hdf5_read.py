"""Reading user-supplied HDF5 / ``.npz`` arrays with one clear error per failure.

Every array's size is checked against :func:`core.memory_budget.memory_budget` from what the file
*declares* (its header), before any of it is read: a 2 KB file declaring (200,000,000 × 1024)
float32 is refused by name instead of ending in ``MemoryError``.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EvidentError
from core.memory_budget import check_fits

__all__ = ["h5_file", "read_dataset", "check_npz_sizes"]

#: What h5py raises on damaged files and unreadable datasets (besides ``OSError``).
H5_ERRORS = (OSError, TypeError, ValueError, KeyError, RuntimeError)


@contextlib.contextmanager
def h5_file(path: str | os.PathLike) -> Iterator[Any]:
    """Open ``path`` read-only as HDF5; damage found while it is open becomes an :class:`EvidentError`.

    Raises
    ------
    EvidentError
        Not an HDF5 file, or h5py fails on it (truncated, damaged, unreadable dtype).
    """
    import h5py  # local: h5py only when used

    p = Path(path)
    try:
        is_h5 = h5py.is_hdf5(p)
    except H5_ERRORS as exc:
        raise EvidentError(p, f"cannot read the file ({exc})") from None
    if not is_h5:
        raise EvidentError(p, "not an HDF5 file")
    try:
        with h5py.File(p, "r") as f:
            yield f
    except EvidentError:
        raise
    except H5_ERRORS as exc:
        raise EvidentError(p, f"cannot read the HDF5 file ({str(exc).strip() or type(exc).__name__})") from None


def read_dataset(dset: Any, path: str | os.PathLike, name: str, *, numeric: bool = True) -> np.ndarray:
    """All of the h5py dataset ``dset`` once its declared size fits the memory budget.

    Parameters
    ----------
    name
        What the dataset holds (``"features"``), for the messages.
    numeric
        Refuse datasets that are not integers or floats (``"<name> are not numeric (dtype …)"``).
    """
    import h5py  # local: h5py only when used

    if not isinstance(dset, h5py.Dataset):
        raise EvidentError(path, f"{name!r} is not a dataset")
    if numeric and dset.dtype.kind not in "biuf":
        raise EvidentError(path, f"{name} are not numeric (dtype {dset.dtype})")
    check_fits(path, float(np.prod(dset.shape, dtype=np.float64)) * max(dset.dtype.itemsize, 8), f"dataset {name!r}")
    return dset[()]


def check_npz_sizes(path: str | os.PathLike) -> None:
    """Check every array of an ``.npz`` file against the memory budget from its ``.npy`` header.

    Raises
    ------
    EvidentError
        An array declares more than the budget, or a header cannot be read.
    """
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                check_fits(p, float(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 8),
                           f"array {info.filename[:-4]!r}")
    except EvidentError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise EvidentError(p, f"not a readable .npz file ({exc})") from None
