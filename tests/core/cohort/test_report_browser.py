"""The HTML report in a real headless browser (Debian's Chromium, networking off): the page renders,
is not blank, and the map overviews and tiles are painted (the screenshot differs from the same page
with every picture blanked, over a large area, and that area is not flat). Chromium missing: the test
fails naming the package (apt-get install -y chromium). The index page's HTML is checked in
test_report.py (two browser runs here keep the test under 20 s)."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import numpy as np

from core.cli import main
from core.cohort.report_images import png_bytes
from testkit.browser import screenshot

_BLANK = "data:image/png;base64," + base64.b64encode(png_bytes(np.full((360, 360, 3), 255, np.uint8))).decode()


def test_report_renders_with_its_pictures_in_chromium(report_project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["report", "--evidence", str(report_project["evidence"]), "--manifest", str(report_project["manifest"]),
                 "--annotations", str(report_project["annotations"].parent), "--out", str(out)]) == 0
    page = out / f"{report_project['slide_id']}.html"
    blank = tmp_path / "blank.html"  # the same page, every picture replaced by white of the same shape
    blank.write_text(re.sub(r'src="data:image/png;base64,[^"]+"', f'src="{_BLANK}"', page.read_text()))
    t0 = time.perf_counter()
    shot = screenshot(page, tmp_path / "report.png")
    plain = screenshot(blank, tmp_path / "blank.png")
    assert time.perf_counter() - t0 < 60
    assert shot.shape == (2000, 1280, 3)
    assert shot.std() > 20  # not a blank page
    diff = np.abs(shot.astype(int) - plain.astype(int)).max(axis=2) > 30
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    assert diff.sum() > 3 * 300 * 300, diff.sum()  # at least three map overviews' worth of painted pixels
    region = shot[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    assert region.std(axis=(0, 1)).mean() > 25  # the pictures hold structure, not a flat colour
    # the map overviews sit side by side in the upper part of the page
    top = diff[: 1000]
    assert top.any(axis=0).sum() > 3 * 300


def test_a_missing_chromium_fails_naming_the_package(monkeypatch) -> None:
    import shutil

    import pytest

    from testkit import browser

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        browser.chromium()
