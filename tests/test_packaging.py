"""Packaging: the PyInstaller spec, desktop entry and icon; the slow test freezes the app and runs it.

The slow test needs the ``packaging`` extra (PyInstaller); it builds into a temporary folder and
starts the frozen app offscreen with ``--version``, with ``info`` on the real CMU slide, and as the
viewer on that slide, which closes itself 2 s after its first frame (``EVIDENT_EXIT_AFTER_MS``).
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "evident.spec"


def test_spec_compiles_and_bundles_openslide_resources_and_all_modules():
    source = SPEC.read_text(encoding="utf-8")
    compile(source, str(SPEC), "exec")
    assert "openslide_bin.__path__" in source
    assert 'collect_submodules("core")' in source and 'collect_submodules("app")' in source
    assert '"resources"' in source


def test_openslide_library_is_where_the_spec_looks():
    import openslide_bin

    libs = [p for p in Path(openslide_bin.__path__[0]).iterdir()
            if p.suffix in (".so", ".dylib", ".dll") or ".so." in p.name]
    assert libs, "openslide_bin ships no shared library"


def test_desktop_entry_and_icons():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "packaging" / "evident.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "Evident"
    assert d["Exec"].split()[0] == "evident" and d["Icon"] == "evident"
    assert d["Categories"].endswith(";")
    svg = (ROOT / "resources" / "icons" / "evident.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and 'viewBox="0 0 256 256"' in svg
    from PIL import Image

    with Image.open(ROOT / "resources" / "icons" / "evident.png") as im:
        assert im.size == (256, 256) and im.mode == "RGBA"


def _run(args: list[str], env: dict, timeout: int = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_frozen_app_starts_offscreen(tmp_path, cmu_slide):
    pytest.importorskip("PyInstaller", reason="needs the packaging extra: pip install -e '.[packaging]'")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    build = _run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                  "--distpath", str(tmp_path / "dist"), "--workpath", str(tmp_path / "build"), str(SPEC)],
                 env, timeout=1700, cwd=ROOT)
    seconds = time.perf_counter() - t0
    assert build.returncode == 0, build.stderr[-4000:]
    app_dir = tmp_path / "dist" / "evident"
    exe = app_dir / ("evident.exe" if sys.platform == "win32" else "evident")
    assert exe.exists()
    size_mb = _dir_size(app_dir) / 2**20
    print(f"\nPyInstaller build: {seconds:.0f} s, dist/evident: {size_mb:.0f} MB")
    assert (app_dir / "_internal" / "resources" / "icons" / "evident.svg").exists()

    from core import __version__

    ver = _run([str(exe), "--version"], env)
    assert ver.returncode == 0, ver.stderr
    assert ver.stdout.strip() == f"evident {__version__}"

    info = _run([str(exe), "info", str(cmu_slide)], env)
    assert info.returncode == 0, info.stderr
    assert "2220" in info.stdout and "2967" in info.stdout  # OpenSlide inside the bundle read the slide

    # the frozen viewer opens the slide, draws its first frame and closes itself 2 s later
    # (EVIDENT_EXIT_AFTER_MS): exit status 0, no traceback
    gui = _run([str(exe), str(cmu_slide)], {**env, "EVIDENT_EXIT_AFTER_MS": "2000"}, timeout=180)
    assert gui.returncode == 0 and "Traceback" not in gui.stdout + gui.stderr, (gui.stdout + gui.stderr)[-4000:]

    bad = _run([str(exe), "info", str(tmp_path / "missing.svs")], env)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: ")
