"""``evident view [FILES...]``: open the desktop viewer (the GUI is imported only here, lazily)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from core.errors import EvidentError

NAME = "view"
HELP = "open the desktop viewer on slides, feature/evidence/annotation files, a checkpoint or a project folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="files or folders to open (matched by slide stem)")
    p.add_argument("--exit-after", type=int, default=None, metavar="MS",
                   help="close the window MS milliseconds after the first frame is drawn and exit 0 "
                        "(smoke tests; also EVIDENT_EXIT_AFTER_MS)")


def run(args: argparse.Namespace) -> int:
    for f in args.files:
        try:
            missing = not Path(f).exists()
        except OSError:  # a name over 255 bytes: the window opens and says so (core.review.filekinds)
            missing = False
        if missing:
            raise EvidentError(f, "no such file or folder")
    exit_after = getattr(args, "exit_after", None)
    if exit_after is not None and exit_after < 0:
        raise EvidentError("--exit-after", f"must be >= 0 milliseconds, got {exit_after}")
    if exit_after is None:
        text = os.environ.get("EVIDENT_EXIT_AFTER_MS", "").strip()
        if text:
            if not text.isdigit():
                raise EvidentError("EVIDENT_EXIT_AFTER_MS", f"{text!r} is not a whole number of milliseconds")
            exit_after = int(text)

    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless and not os.environ.get("QT_QPA_PLATFORM"):
        raise EvidentError(None, "no display to open a window on (no DISPLAY or WAYLAND_DISPLAY); "
                                 "run under xvfb-run, or set QT_QPA_PLATFORM=offscreen")

    application = importlib.import_module("app.application")
    return application.run(list(args.files), exit_after_ms=exit_after, exit_process=True)
