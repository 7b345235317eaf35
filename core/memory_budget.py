"""How much memory one input may claim, checked against what a file *declares* before reading it.

A 2 KB HDF5 file can declare a (200,000,000 × 1024) dataset and a TIFF header a 200,000² px level;
reading either would end in ``MemoryError`` (or the operating system killing the process). Loaders
call :func:`check_fits` with the declared size first and raise one
:class:`~core.errors.EvidentError` naming the file instead.

The budget is a quarter of the machine's physical memory, or ``EVIDENT_MAX_LOAD_BYTES`` (bytes)
when set. Loaders count 8 bytes per declared value at least (the float32/float64 copies a read
makes), so a file of 1-byte values cannot slip through at a quarter of its real cost.
"""

from __future__ import annotations

import os
import sys

from core.errors import EvidentError

__all__ = ["memory_budget", "check_fits", "format_bytes"]

_FALLBACK = 8 * 2**30  # when the platform does not say


def _physical_memory() -> int:
    try:
        if sys.platform == "win32":
            import ctypes  # local: Windows only

            class _Status(ctypes.Structure):
                _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                            ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

            st = _Status()
            st.dwLength = ctypes.sizeof(_Status)
            ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(st))
            return int(st.ullTotalPhys) or _FALLBACK
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return _FALLBACK


def memory_budget() -> int:
    """Bytes one input may occupy once loaded: ``EVIDENT_MAX_LOAD_BYTES`` or a quarter of the physical memory."""
    env = os.environ.get("EVIDENT_MAX_LOAD_BYTES", "").strip()
    if env:
        try:
            return max(int(float(env)), 1)
        except ValueError:
            pass
    return max(_physical_memory() // 4, 1)


def format_bytes(n: float) -> str:
    """``n`` bytes in words (``"763 GiB"``)."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_fits(path, n_bytes: float, what: str) -> None:
    """Raise when ``n_bytes`` (what the file declares ``what`` needs) exceed :func:`memory_budget`.

    Raises
    ------
    EvidentError
        ``"<path>: <what> declares <size>, more than the <budget> memory budget (file damaged?
        set EVIDENT_MAX_LOAD_BYTES to allow more)"``.
    """
    budget = memory_budget()
    if n_bytes > budget:
        raise EvidentError(path, f"{what} declares {format_bytes(n_bytes)}, more than the memory budget of "
                                 f"{format_bytes(budget)} (damaged file? set EVIDENT_MAX_LOAD_BYTES to allow more)")
