"""A real headless browser for the HTML report tests: Debian's Chromium, offline, one screenshot per call."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

__all__ = ["CHROMIUM_PACKAGE", "chromium", "screenshot"]

CHROMIUM_PACKAGE = "chromium"  # Debian's package: `apt-get install -y chromium`
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars")


def chromium() -> str:
    """The Chromium executable; fails the test (never skips) when it is not installed."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(f"Chromium is not installed: install Debian's package `{CHROMIUM_PACKAGE}` "
                    f"(apt-get install -y {CHROMIUM_PACKAGE}) to run the browser test of the HTML reports")
    return exe


def screenshot(page: Path, out_png: Path, size: tuple[int, int] = (1280, 2000)) -> np.ndarray:
    """Open ``page`` (a local file) in headless Chromium with networking off and return the
    screenshot as (h, w, 3) uint8 RGB (also written to ``out_png``)."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="evident-chromium-") as profile:
        cmd = [chromium(), *_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out_png}",
               f"--window-size={size[0]},{size[1]}", page.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and out_png.is_file(), done.stderr[-2000:]
    return np.asarray(Image.open(out_png).convert("RGB"))
