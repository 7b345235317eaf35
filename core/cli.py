"""The ``evident`` command: a thin dispatcher over :mod:`core.commands`.

Errors a user can cause are :class:`core.errors.EvidentError`; they print as one line
``error: <file>: <what is wrong>`` on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from core.commands import build_parser
from core.errors import EvidentError, as_evident_error

__all__ = ["main", "build_parser"]  # build_parser: core.commands (the demo drives it too)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evident`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except EvidentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, MemoryError, RecursionError) as exc:  # bad input the loaders did not catch themselves
        if isinstance(exc, BrokenPipeError):
            return _broken_pipe()
        err = as_evident_error(exc)
        if err is None:  # pragma: no cover - as_evident_error classifies all three
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished outputs were kept, unfinished ones discarded", file=sys.stderr)
        return 130


def _broken_pipe() -> int:
    """The reader of our stdout went away (``evident info SLIDE | head``): not an error of ours."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
