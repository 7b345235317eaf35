"""The viewer's loaded models: one :func:`core.models.checkpoint.load_checkpoint` per checkpoint file.

The interventions, plots and exemplar panels each run jobs on the inference thread that need the
session's model; without a cache every job re-read and rebuilt it from disk. A checkpoint is keyed by
its resolved path, size and modification time (a rewritten file is loaded again); the two most
recent are kept. The models are shared read-only (eval mode; no job trains or edits them).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["clear", "load_checkpoint_cached"]

_KEEP = 2
_lock = threading.Lock()
_cache: OrderedDict = OrderedDict()


def load_checkpoint_cached(path: str | os.PathLike):
    """``(model, config)`` of the checkpoint at ``path``, loaded once per file version.

    Raises
    ------
    EvidentError
        As :func:`core.models.checkpoint.load_checkpoint` (missing file, unsafe or broken checkpoint).
    """
    from core.models.checkpoint import load_checkpoint  # local: pulls in torch

    p = Path(path)
    try:
        st = p.resolve().stat()
    except OSError:
        return load_checkpoint(p)  # raises its one clear error
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        loaded = load_checkpoint(p)
        _cache[key] = loaded
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
        return loaded


def clear() -> None:
    """Forget every loaded model."""
    with _lock:
        _cache.clear()
