"""Check, before Qt starts, that its Linux window-system plugin (xcb) can load, and say what to install.

Qt's xcb platform plugin links a dozen X11/xcb libraries that minimal Linux installs lack
(``libxcb-icccm4``, ``libxcb-keysyms1``, ``libxcb-cursor0``...). When one is missing Qt prints a
plugin error and aborts the process, which Python cannot catch; so :func:`check_qt_platform` loads
each library the plugin needs (by its soname, as the dynamic loader would) before the
``QApplication`` exists and raises one :class:`core.errors.EvidentError` naming the missing
libraries and the Debian/Ubuntu and Fedora packages that hold them. The check runs only on Linux
when Qt would use xcb (``QT_QPA_PLATFORM`` unset or ``xcb``, and not a Wayland session); this
module imports no Qt, so it is tested with a fake loader. README.md ("Install") lists the packages.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

from core.errors import EvidentError

__all__ = ["XCB_LIBRARIES", "check_qt_platform", "missing_xcb_libraries", "uses_xcb"]

#: soname -> (Debian/Ubuntu package, Fedora package): what libqxcb.so / libQt6XcbQpa.so.6 link
#: outside Qt itself (from ``ldd`` on the PySide6 6.x wheel).
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
}


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will pick its xcb plugin: Linux, ``QT_QPA_PLATFORM`` unset/empty or ``xcb``, and not
    a Wayland session (``XDG_SESSION_TYPE=wayland`` with ``WAYLAND_DISPLAY`` set)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if qpa:
        return qpa.split(":", 1)[0].split(";", 1)[0] == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "").lower() == "wayland")


def missing_xcb_libraries(loads: Callable[[str], bool] | None = None) -> list[str]:
    """The sonames of :data:`XCB_LIBRARIES` that ``loads(soname)`` cannot load, in table order
    (default: the dynamic loader, ``ctypes.CDLL``)."""
    loads = loads or _loads
    return [name for name in XCB_LIBRARIES if not loads(name)]


def check_qt_platform(env: Mapping[str, str] | None = None, platform: str | None = None,
                      loads: Callable[[str], bool] | None = None) -> None:
    """Raise :class:`EvidentError` with the packages to install when Qt's xcb plugin cannot load.

    Does nothing off Linux, when another Qt platform is chosen, or when every library loads.
    """
    if not uses_xcb(env, platform):
        return
    missing = missing_xcb_libraries(loads)
    if not missing:
        return
    deb = " ".join(dict.fromkeys(XCB_LIBRARIES[m][0] for m in missing))
    rpm = " ".join(dict.fromkeys(XCB_LIBRARIES[m][1] for m in missing))
    raise EvidentError(None, f"Qt's window-system plugin (xcb) cannot load: missing {', '.join(missing)}. "
                             f"Install them (Debian/Ubuntu: sudo apt install {deb}; Fedora: sudo dnf install {rpm}), "
                             "or run without a window with QT_QPA_PLATFORM=offscreen")
