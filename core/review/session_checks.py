"""Structure checks of a review session document (:mod:`core.review.session_file`) before it is used.

A session file is JSON the user can edit or damage; :func:`check_session_doc` makes sure every
value :func:`core.review.session_file.restore_session` reads has the type it needs, so that a bad
file is one :class:`~core.errors.EvidentError` naming it and the entry, never a ``KeyError`` or
``TypeError`` halfway through a restore. Layout: docs/reliability.md.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from core.errors import EvidentError

__all__ = ["check_session_doc"]

_HISTORY_KEYS = ("action", "indices", "probs_before", "probs_after", "classes", "phi_delta", "layers")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ints(v: Any) -> bool:
    return isinstance(v, list) and all(_is_int(x) and x >= 0 for x in v)


def _finite(v: Any) -> bool:
    return isinstance(v, list) and all(_is_number(x) and math.isfinite(x) for x in v)


def check_session_doc(doc: dict, path: str | os.PathLike) -> None:
    """Check the entries of a session document (files, layers, selection, history, view).

    Raises
    ------
    EvidentError
        ``"<path>: malformed session file (<entry>: <what>)"`` for the first bad entry.
    """

    def bad(where: str, what: str) -> EvidentError:
        return EvidentError(path, f"malformed session file ({where}: {what})")

    for key, value in doc["files"].items():
        if value is not None and not isinstance(value, str):
            raise bad(f"files.{key}", "must be a path or null")
    for i, ld in enumerate(doc.get("layers", [])):
        where = f"layers[{i}]"
        if not isinstance(ld, dict) or not isinstance(ld.get("name"), str):
            raise bad(where, "must be an object with a 'name'")
        if not isinstance(ld.get("settings", {}), dict):
            raise bad(where, "'settings' must be an object")
        if "values" in ld and not (isinstance(ld["values"], list) and
                                   all(x is None or _is_number(x) for x in ld["values"])):
            raise bad(where, "'values' must be numbers or null")
        if "indices" in ld and not _ints(ld["indices"]):
            raise bad(where, "'indices' must be whole numbers >= 0")
        if "geometry" in ld:
            _check_geometry(ld["geometry"], bad, where)
    if not _ints(doc.get("selection", [])):
        raise bad("selection", "must be patch indices (whole numbers >= 0)")
    history = doc.get("history", [])
    if not isinstance(history, list):
        raise bad("history", "must be a list")
    for i, h in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(h, dict) or any(k not in h for k in _HISTORY_KEYS):
            raise bad(where, f"needs {', '.join(_HISTORY_KEYS)}")
        if not isinstance(h["action"], str) or not _ints(h["indices"]) or not _finite(h["probs_before"]) \
                or not _finite(h["probs_after"]) or not _is_number(h["phi_delta"]) \
                or not isinstance(h["classes"], list) or not isinstance(h["layers"], list) \
                or not isinstance(h.get("snr") or {}, dict):
            raise bad(where, "an entry has the wrong type")
    view = doc.get("view")
    if view is not None and not (_finite(view) and len(view) == 4):
        raise bad("view", "must be four finite numbers or null")


def _check_geometry(geom: Any, bad, where: str) -> None:
    import numpy as np  # local: numpy only when used
    import shapely  # local: shapely only when used
    from shapely.geometry import shape  # local: shapely only when used

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            g = shape(geom)
        ok = bool(np.isfinite(shapely.get_coordinates(g)).all())
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError,
            shapely.errors.ShapelyError) as exc:
        raise bad(where, f"'geometry' is not a GeoJSON geometry ({exc})") from None
    if not ok:
        raise bad(where, "'geometry' has non-finite coordinates")
