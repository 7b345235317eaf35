"""One name per concept: no two modules of core/ and app/ define the same public top-level class or
function (docs/names_and_types.md), except the sub-command / benchmark plugin interface."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Shared on purpose: each sub-command and benchmark module defines them (core.commands / core.bench discover).
PLUGIN_INTERFACE = {"add_arguments", "run", "discover", "main"}
#: Known duplicates still to remove (issue 16): name -> the modules that define it.
TO_DO: dict[str, set[str]] = {}


def top_level_names(root: Path) -> dict[str, set[str]]:
    """Public top-level class/function name -> the files (relative to ``root``) that define it."""
    found: dict[str, set[str]] = defaultdict(set)
    for package in ("core", "app"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                    found[node.name].add(path.relative_to(root).as_posix())
    return found


def test_no_public_name_is_defined_twice():
    dup = {k: v for k, v in top_level_names(ROOT).items() if len(v) > 1 and k not in PLUGIN_INTERFACE}
    assert dup == TO_DO, {k: sorted(v) for k, v in dup.items()}


def test_the_check_sees_a_planted_duplicate(tmp_path):
    for rel, text in (("core/a.py", "class Cohort:\n    pass\n"), ("app/b.py", "def Cohort():\n    pass\n"),
                      ("core/c.py", "def _private():\n    pass\n"), ("app/d.py", "def _private():\n    pass\n")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    names = top_level_names(tmp_path)
    assert names["Cohort"] == {"core/a.py", "app/b.py"} and "_private" not in names
