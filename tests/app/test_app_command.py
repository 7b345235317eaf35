"""``evident view`` and the viewer benchmark's entry points (no window is opened here)."""

from __future__ import annotations

import subprocess
import sys

from core.cli import main


def test_view_missing_file_is_one_error_line(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nope.svs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nope.svs" in err[0]


def test_view_command_and_core_bench_import_no_qt():
    code = ("import sys, core.commands.view, core.bench.viewer, core.review.session, core.review.intervene\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'app')]\n"
            "sys.exit(1 if bad else 0)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_view_is_a_subcommand():
    from core.cli import build_parser

    args = build_parser().parse_args(["view", "a.svs", "b.h5"])
    assert args.files == ["a.svs", "b.h5"] and callable(args._run)
