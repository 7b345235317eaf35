"""The xcb pre-check: a missing library gives one message naming it and the packages to install."""

from __future__ import annotations

import pytest

from app.qt_platform import XCB_LIBRARIES, check_qt_platform, missing_xcb_libraries, uses_xcb
from core.errors import EvidentError

_MISSING = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}


def _fake(soname: str) -> bool:
    return soname not in _MISSING


def test_missing_libraries_are_named_with_their_packages():
    assert missing_xcb_libraries(_fake) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    with pytest.raises(EvidentError) as err:
        check_qt_platform({}, "linux", _fake)
    text = str(err.value)
    assert "libxcb-icccm.so.4" in text and "libxcb-keysyms.so.1" in text
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in text
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in text and "QT_QPA_PLATFORM=offscreen" in text


@pytest.mark.parametrize(("env", "platform", "checked"), [
    ({}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}, "linux", True),
    ({}, "darwin", False),
    ({}, "win32", False),
])
def test_only_checked_where_qt_uses_xcb(env, platform, checked):
    assert uses_xcb(env, platform) is checked
    if checked:
        with pytest.raises(EvidentError):
            check_qt_platform(env, platform, _fake)
    else:
        check_qt_platform(env, platform, _fake)  # no error: the check does not apply


def test_nothing_missing_passes_and_this_machine_has_every_library():
    check_qt_platform({}, "linux", lambda _s: True)
    assert set(XCB_LIBRARIES) >= _MISSING
    assert missing_xcb_libraries() == []  # the real loader: the test machine runs Qt's xcb (Xvfb checks)


def test_evident_view_prints_the_hint_instead_of_crashing(tmp_path):
    """The real command in a fresh process (no QApplication yet), the loader told two libraries are missing."""
    import os
    import subprocess
    import sys

    code = ("import sys, app.qt_platform as q; q._loads = lambda s: s not in "
            f"{sorted(_MISSING)!r}; from core.cli import main; sys.exit(main(['view']))")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":0", HOME=str(tmp_path))  # a display is named, so only the xcb check can stop it
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: Qt's window-system plugin (xcb) cannot load: missing libxcb-icccm.so.4")
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in r.stderr and "Traceback" not in r.stderr
