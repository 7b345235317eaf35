"""Convert HDF5 attribute values to plain Python values and back.

HDF5 files written by CLAM, TRIDENT and h5py itself store attributes as numpy scalars, numpy
arrays, ``bytes`` or strings (TRIDENT writes ``None`` as the string ``"None"`` and dicts as JSON
strings). Evident keeps attributes as JSON-serialisable Python values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["plain_value", "plain_attrs", "h5_value", "write_attrs"]


def plain_value(value: Any) -> Any:
    """Return ``value`` (an HDF5 attribute) as a JSON-serialisable Python value.

    ``bytes`` become ``str``, numpy scalars become Python numbers, arrays become (nested) lists and
    the string ``"None"`` (TRIDENT's spelling of a missing value) becomes ``None``.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return None if value == "None" else value
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return plain_value(value[()])
        return [plain_value(v) for v in value.tolist()] if value.dtype.kind in "OSU" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def plain_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Return an ``h5py`` attribute mapping as a dict of plain values (see :func:`plain_value`)."""
    return {str(k): plain_value(v) for k, v in attrs.items()}


def h5_value(value: Any) -> Any:
    """Return ``value`` in a form ``h5py`` can store as an attribute, or ``None`` to skip it.

    ``None`` is skipped, dicts are stored as JSON strings, lists become numpy arrays (lists of
    strings become arrays of variable-length UTF-8 strings).
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return np.array(value, dtype=object)
        try:
            arr = np.asarray(value)
        except ValueError:
            return json.dumps(value, default=str)
        return arr if arr.dtype.kind in "biuf" else json.dumps(value, default=str)
    return value


def write_attrs(obj: Any, attrs: Mapping[str, Any], skip: tuple[str, ...] = ()) -> None:
    """Store ``attrs`` on an ``h5py`` object (file, group or dataset), skipping ``None`` values.

    Parameters
    ----------
    obj
        An ``h5py`` File, Group or Dataset opened for writing.
    attrs
        Name -> plain value (see :func:`h5_value` for what is stored how).
    skip
        Names not to store.
    """
    import h5py  # local: h5py only when used

    for key, value in attrs.items():
        if key in skip:
            continue
        v = h5_value(value)
        if v is None:
            continue
        if isinstance(v, np.ndarray) and v.dtype == object:
            obj.attrs.create(key, v, dtype=h5py.string_dtype())
        else:
            obj.attrs[key] = v
