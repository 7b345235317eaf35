"""View › True Colour and View › Stain Normalisation, driven through the real menus: what is painted
is the slide converted from its embedded ICC profile (and stain-normalised), checked against core's
conversion of the file's own pixels read independently."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.slide.colour import ColouredSource, icc_to_srgb, slide_stain_normaliser
from core.slide.reader import open_slide
from testkit.colour import SRGB_D50, matrix_trc_profile, write_tiff_with_profile

from .driver import compare_to_truth, settle


@pytest.fixture(scope="module")
def linear_light_slide(cmu_slide, tmp_path_factory):
    """2048 x 2048 px of real CMU tissue in a tiled TIFF that declares a linear-light RGB profile
    (sRGB primaries, gamma 1.0): shown in true colour every mid-tone brightens by tens of levels."""
    with open_slide(cmu_slide) as r:
        rgb = np.ascontiguousarray(r.read_region((0, 400), 0, (2048, 2048))[..., :3])
    path = tmp_path_factory.mktemp("colour") / "linear_light.tif"
    return write_tiff_with_profile(path, rgb, matrix_trc_profile(SRGB_D50, gamma=1.0, name="linear sRGB"))


def click_menu(window, qtbot, *texts: str) -> None:
    """Open the menu bar's ``texts[0]`` menu with a real click, then click through ``texts[1:]``
    (submenus open on click, the last item is triggered)."""
    bar = window.menuBar()
    act = next(a for a in bar.actions() if a.text().replace("&", "") == texts[0])
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(act).center())
    menu = act.menu()
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    for text in texts[1:]:
        item = next(a for a in menu.actions() if a.text().replace("&", "").startswith(text))
        QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(item).center())
        if item.menu() is not None:
            menu = item.menu()
            qtbot.waitUntil(menu.isVisible, timeout=3000)
    qtbot.wait(1)


def test_true_colour_and_stain_normalisation_through_the_view_menu(window, linear_light_slide, qtbot):
    view = window.view
    applied = []
    window.display_colour.applied.connect(applied.append)
    window.open_paths([linear_light_slide])
    qtbot.waitUntil(lambda: view.reader is not None and bool(applied), timeout=10000)
    settle(view, qtbot)
    with open_slide(linear_light_slide) as raw:
        icc = icc_to_srgb(raw)
        true_colour = ColouredSource(raw, [icc])
        # on by default: the painted view is the ICC-converted slide, not the file's pixels
        on_vs_converted = compare_to_truth(view, true_colour)
        on_vs_file = compare_to_truth(view, raw)
        assert on_vs_converted.mean_abs_diff <= 6.0, on_vs_converted.describe()
        assert on_vs_file.mean_abs_diff >= 20.0, on_vs_file.describe()
        assert "ICC profile" in applied[-1]

        click_menu(window, qtbot, "View", "True Colour")                      # off
        qtbot.waitUntil(lambda: view.colour == (), timeout=5000)
        settle(view, qtbot)
        off = compare_to_truth(view, raw)
        assert off.mean_abs_diff <= 6.0, off.describe()
        assert not window.display_colour.true_colour

        click_menu(window, qtbot, "View", "True Colour")                      # on again
        click_menu(window, qtbot, "View", "Stain Normalisation", "Macenko")  # + Macenko to the reference stain
        qtbot.waitUntil(lambda: len(view.colour) == 2, timeout=15000)
        settle(view, qtbot)
        expected = ColouredSource(raw, [icc, slide_stain_normaliser(raw, "macenko", None, before=icc)])
        normalised = compare_to_truth(view, expected)
        assert normalised.mean_abs_diff <= 6.0, normalised.describe()
        unnormalised = compare_to_truth(view, true_colour)
        assert unnormalised.mean_abs_diff >= 3 * normalised.mean_abs_diff, (normalised, unnormalised)  # it shows
        assert "macenko stain normalisation to reference stain" in applied[-1]
    # the choices persist in the settings for the next slide and session
    assert window.settings.value("colour/stain") == "macenko"
