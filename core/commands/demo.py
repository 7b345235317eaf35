"""``evident demo``: build a demo cohort from real tissue, run the whole pipeline, open the viewer."""

from __future__ import annotations

import argparse
import importlib

NAME = "demo"
HELP = "build a demo cohort from real skin tissue, train, recover and explain evidence, then open the viewer"
DESCRIPTION = (
    "Build (once, cached) virtual slides assembled from real CMU-1 skin patches, where a positive "
    "slide holds an epidermis cluster (the known evidence); extract features with the built-in "
    "encoder; cross-validate gated ABMIL with and without GCE; recover GCE subsets; compute "
    "explanations and the audit; print accuracy, C-D gap and evidence precision against the truth; "
    "then open the viewer on a positive slide (unless --no-gui). Every stage is skipped when its "
    "outputs exist and its inputs did not change."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", metavar="DIR", default=None,
                   help="workspace folder (default ~/.cache/evident/demo)")
    p.add_argument("--no-gui", action="store_true", help="do not open the viewer at the end")
    p.add_argument("--rebuild", action="store_true", help="rebuild every stage even when cached (the training folders are emptied first)")


def run(args: argparse.Namespace) -> int:
    from core.commands import build_parser
    from core.demo.pipeline import run_demo  # local: evident --help loads this module; numpy only when run
    from core.demo.stages import command_runner  # local: evident --help loads this module
    from core.demo.summary import format_summary  # local: evident --help loads this module; numpy only when run

    result = run_demo(command_runner(build_parser), args.workspace, rebuild=args.rebuild,
                      echo=lambda s: print(s, flush=True))
    print()
    print("\n".join(format_summary(result.summary)))
    if args.no_gui:
        return 0

    application = importlib.import_module("app.application")
    # the process ends right after the window closes (as `evident view`: no slow interpreter shutdown)
    return int(application.run([str(p) for p in result.view_files], exit_process=True))
