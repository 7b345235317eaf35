"""Atomic output: write to a temporary sibling, rename into place only when complete.

A crash, an exception or Ctrl-C never leaves a half-written output behind, and an existing file
is replaced in one step.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import EvidentError

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_json", "ensure_writable_dir"]


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed and check it can be written to.

    Raises
    ------
    EvidentError
        When the folder cannot be created or is not writable.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvidentError(p, f"cannot create output folder ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK):
        raise EvidentError(p, "output folder is not writable")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` when the block succeeds.

    Use it with libraries that want a file name (h5py, torch.save, tifffile)::

        with atomic_path(out) as tmp:
            with h5py.File(tmp, "w") as f: ...

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    final = Path(path)
    ensure_writable_dir(final.parent if str(final.parent) else ".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
