"""Subcommands of the ``evident`` command, one module each.

Each module defines ``NAME`` (the subcommand), ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. :func:`build_parser` discovers them, so adding a command never edits the CLI;
:mod:`core.cli` runs the parser, and ``evident demo`` hands it to the demo pipeline
(:func:`core.demo.stages.command_runner`), which calls sub-commands in process.
Modules import their heavy dependencies inside ``run`` so that ``evident --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType

from core import __version__

__all__ = ["build_parser", "discover"]


def discover() -> list[ModuleType]:
    """Return the command modules of this package, sorted by command name."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-parser per discovered command."""
    parser = argparse.ArgumentParser(
        prog="evident",
        description="Evident: review the evidence behind MIL predictions on whole-slide images.",
    )
    parser.add_argument("--version", action="version", version=f"evident {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in discover():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser
