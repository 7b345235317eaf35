"""User-facing errors: one message naming the file and what is wrong with it."""

from __future__ import annotations

import os

__all__ = ["EvidentError"]


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
