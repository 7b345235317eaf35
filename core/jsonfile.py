"""Reading a user-supplied JSON file with one clear error per failure."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.errors import EvidentError

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, what: str, encoding: str = "utf-8") -> Any:
    """The parsed document at ``path``.

    Parameters
    ----------
    what
        What the file is, for the not-found message (``"<what> not found"``).
    encoding
        ``"utf-8-sig"`` also accepts a byte-order mark.

    Raises
    ------
    EvidentError
        Missing (``"<what> not found"``), unreadable, not valid JSON (with line and column), or
        nested too deeply for the parser (``RecursionError``).
    """
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding=encoding))
    except FileNotFoundError:
        raise EvidentError(p, f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidentError(p, f"cannot read the file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise EvidentError(p, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:  # "[[[[…" 100,000 deep: Python's parser gives up before reading it
        raise EvidentError(p, "JSON nested too deeply to read") from None
