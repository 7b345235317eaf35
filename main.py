"""Start Evident: ``python main.py [FILES...]`` opens the viewer; ``python main.py COMMAND ...`` runs the CLI."""

from __future__ import annotations

import sys


def _main(argv: list[str]) -> int:
    from core.cli import build_parser

    commands = set()
    for action in build_parser()._subparsers._group_actions:  # type: ignore[union-attr]
        commands |= set(getattr(action, "choices", {}) or {})
    if argv and (argv[0] in commands or argv[0] in {"-h", "--help", "--version"}):
        from core.cli import main

        return main(argv)
    from core.cli import main

    return main(["view", *argv])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
