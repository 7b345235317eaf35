"""User-facing errors: one message naming the file and what is wrong with it."""

from __future__ import annotations

import os

__all__ = ["EvidentError", "as_evident_error", "describe_failure"]


class EvidentError(Exception):
    """An error the user can cause (bad file, wrong shape, missing input).

    Parameters
    ----------
    path
        The file (or other named input) at fault; ``None`` when no file is involved.
    message
        What is wrong, in words a user understands, without a trailing full stop.

    ``str(err)`` is ``"<path>: <message>"`` and the CLI prints it as ``error: <path>: <message>``.
    """

    def __init__(self, path: str | os.PathLike | None, message: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return self.message if self.path is None else f"{self.path}: {self.message}"


def as_evident_error(exc: BaseException, path: str | os.PathLike | None = None) -> EvidentError | None:
    """The user-facing form of an exception that bad input can cause, ``None`` for anything else.

    One classification for the CLI and the viewer: an :class:`EvidentError` as it is; an
    ``OSError`` (a name over 255 bytes, a permission, a disk error) naming its own file when it
    has one, else ``path``; ``MemoryError`` and ``RecursionError`` (a file declaring more than
    fits, a document nested too deeply) naming ``path``. Loaders check these cases themselves
    first (:mod:`core.memory_budget`); this is the net under them.

    Parameters
    ----------
    path
        The input being read when ``exc`` happened (the file the user chose), if known.
    """
    if isinstance(exc, EvidentError):
        return exc
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else path
        return EvidentError(where, f"cannot read or write the file ({exc.strerror or exc})")
    if isinstance(exc, MemoryError):
        return EvidentError(path, "too large to load into memory (damaged file, or declares a huge size)")
    if isinstance(exc, RecursionError):
        return EvidentError(path, "nested too deeply to read")
    return None


def describe_failure(exc: BaseException, path: str | os.PathLike | None = None) -> EvidentError:
    """Always an :class:`EvidentError` for ``exc``: :func:`as_evident_error`'s, or ``"cannot open
    (<type>: <text>)"`` naming ``path`` for anything else (the viewer reports it and stays open)."""
    known = as_evident_error(exc, path)
    if known is not None:
        return known
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return EvidentError(path, f"cannot open ({type(exc).__name__}{': ' + text if text else ''})")
