"""The import contracts of docs/architecture.md, checked by the real ``lint-imports``.

``core`` never imports Qt/pyqtgraph/app; ``app`` reaches torch/OpenSlide/HDF5 only through ``core``;
the sub-packages of ``core`` form layers. The guard is itself tested: a planted violation in a
temporary copy of the tree must make the checker fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    """The ``lint-imports`` executable of this interpreter's environment (never a silent skip)."""
    exe = Path(sys.executable).parent / "lint-imports"
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert found, "lint-imports (import-linter) is not installed: pip install -e '.[test]'"
    return found


def _run_checker(root: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(root), "HOME": str(root)}
    return subprocess.run([_lint_imports(), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=120)


def test_import_core_loads_no_qt():
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'app')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    _assert_runs(code)


def _assert_runs(code: str) -> None:
    """Run ``code`` in a fresh interpreter at the repository root; it must exit 0."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_loads_no_heavy_dependency():
    """``evident --help`` builds every sub-parser without torch, scipy, matplotlib, h5py or OpenSlide."""
    code = (
        "import sys\n"
        "from core.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = ('torch', 'scipy', 'matplotlib', 'h5py', 'openslide', 'sklearn', 'PIL')\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy})\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    _assert_runs(code)


def test_import_linter_contracts_hold():
    proc = _run_checker(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout and "layers" in proc.stdout, proc.stdout


@pytest.fixture
def tree_copy(tmp_path):
    """core/, app/ and pyproject.toml copied, so that a violation can be planted without touching the repo."""
    for name in ("core", "app"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize("module, line, contract", [
    ("core/errors.py", "import PySide6  # planted", "core never imports the GUI layer"),
    ("app/jobs.py", "import h5py  # planted", "app reaches torch, OpenSlide and HDF5 only through core"),
    ("core/data/bag.py", "import core.review  # planted", "core's layers"),
])
def test_a_planted_violation_breaks_the_guard(tree_copy, module, line, contract):
    assert _run_checker(tree_copy).returncode == 0  # the copy itself is clean
    target = tree_copy / module
    target.write_text(target.read_text() + f"\n{line}\n")
    proc = _run_checker(tree_copy)
    assert proc.returncode != 0, proc.stdout
    broken = proc.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, proc.stdout
