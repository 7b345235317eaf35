"""``evident view [FILES...]``: open the desktop viewer (the GUI is imported only here, lazily)."""

from __future__ import annotations

import argparse

NAME = "view"
HELP = "open the desktop viewer on slides, feature/evidence/annotation files, a checkpoint or a project folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="files or folders to open (matched by slide stem)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.errors import EvidentError

    for f in args.files:
        if not Path(f).exists():
            raise EvidentError(f, "no such file or folder")
    import importlib

    application = importlib.import_module("app.application")
    return application.run(list(args.files))
