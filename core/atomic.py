"""Atomic output: write to a temporary sibling, rename into place only when complete.

A crash, an exception or Ctrl-C never leaves a half-written output behind, and an existing file
is replaced in one step. Outputs get the mode an ordinary ``open(path, "w")`` would give (``0o666``
less the user's umask; a replaced file keeps its own mode), not ``mkstemp``'s ``0o600``.
Temporary names carry the writer's process id, so that what a killed run (SIGKILL, power loss)
left behind is removed by the next write to the same place (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import EvidentError

__all__ = ["check_writable_dir", "atomic_path", "atomic_write_text", "atomic_write_json", "ensure_writable_dir", "staging_dir",
           "remove_stale", "default_mode", "process_alive"]

_UMASK_LOCK = threading.Lock()
#: On Windows a process id cannot be probed safely; leftovers older than this are stale.
_STALE_AGE_S = 24 * 3600


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed and check it can be written to.

    Raises
    ------
    EvidentError
        When the folder cannot be created or is not writable.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvidentError(p, f"cannot create output folder ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK):
        raise EvidentError(p, "output folder is not writable")
    return p


def default_mode(directory: bool = False) -> int:
    """Permission bits a new file (``0o666``) or folder (``0o777``) gets under the current umask."""
    with _UMASK_LOCK:  # reading the umask means setting it; keep other threads out meanwhile
        mask = os.umask(0o022)
        os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def _pid_alive(pid: int, path: Path) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate it there
        try:
            return time.time() - path.stat().st_mtime < _STALE_AGE_S
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (a permission error counts as running).

    On Windows, where a process id cannot be probed safely, every pid counts as running.
    """
    if sys.platform == "win32":
        return True
    return _pid_alive(pid, Path("."))


def remove_stale(folder: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove the temporaries ``<prefix><pid>-*`` in ``folder`` whose writing process is gone.

    A run killed with SIGKILL cannot clean up; the next run writing to the same place calls this.
    Temporaries of processes still running (another ``evident`` writing there) are kept.
    Returns what was removed.
    """
    return _remove_matching(folder, re.compile(re.escape(prefix) + r"(\d+)-"))


#: ``.<name>.<pid>-XXXXXXXX.tmp``: what :func:`atomic_path` writes before the rename
_TMP_FILE = re.compile(r"\..+\.(\d+)-[a-z0-9_]{8}\.tmp")
_SWEPT: set[str] = set()  # folders whose stale temporaries this process has already removed


def _remove_matching(folder: str | os.PathLike, pattern: re.Pattern) -> list[Path]:
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name) if pattern is _TMP_FILE else pattern.match(entry.name)
        if m is None or _pid_alive(int(m.group(1)), entry):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def _tmp_prefix(name: str) -> str:
    """``.<name>.`` shortened so that the temporary's name stays under 255 bytes."""
    while len(f".{name}.".encode()) > 180:
        name = name[: len(name) // 2]
    return f".{name}."


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Check, without creating anything, that ``path`` is or can become a writable folder.

    For commands that write only at the end (``evident audit``): an unusable output is reported
    before the work starts, and a failed run leaves no empty folder behind.

    Raises
    ------
    EvidentError
        ``path`` (or a parent) is a file, the name is too long, or the nearest existing folder is
        not writable.
    """
    p = Path(path)
    probe = p
    try:
        while not probe.exists():
            if len(probe.name.encode()) > 255:
                raise EvidentError(p, "cannot create output folder (file name too long)")
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise EvidentError(p, f"cannot create output folder ({probe} is a file)")
    except OSError as exc:
        raise EvidentError(p, f"cannot create output folder ({exc.strerror or exc})") from None
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EvidentError(p, "output folder is not writable" if probe == p else f"cannot create output folder ({probe} is not writable)")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` when the block succeeds.

    Use it with libraries that want a file name (h5py, torch.save, tifffile)::

        with atomic_path(out) as tmp:
            with h5py.File(tmp, "w") as f: ...

    On any exception the temporary file is removed and ``path`` is left as it was. The result
    has the umask's mode (:func:`default_mode`), or the mode of the file it replaces.

    Raises
    ------
    EvidentError
        The folder cannot be created or written, or the temporary cannot be made there.
    """
    final = Path(path)
    parent = final.parent if str(final.parent) else Path(".")
    ensure_writable_dir(parent)
    prefix = _tmp_prefix(final.name)
    key = os.path.abspath(parent)
    if key not in _SWEPT:  # once per folder and process: a folder of 10,000 bags is listed once, not 10,000 times
        _SWEPT.add(key)
        _remove_matching(parent, _TMP_FILE)
    try:
        mode = final.stat().st_mode & 0o7777 if final.is_file() else default_mode()
        fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise EvidentError(final, f"cannot write the file ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, mode)
        yield tmp
        os.chmod(tmp, mode)  # libraries that delete and recreate the file get the mode back
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def staging_dir(parent: str | os.PathLike, name: str) -> Iterator[Path]:
    """A temporary folder ``.<name>-<pid>-XXXX`` inside ``parent``, removed when the block ends.

    Outputs are assembled there and moved into ``parent`` with ``os.replace`` when complete.
    Folders that a killed earlier run left (its process is gone) are removed first; the folder
    has the umask's mode (:func:`default_mode`), so what is moved out of it is not private.

    Raises
    ------
    EvidentError
        ``parent`` cannot be created or written.
    """
    root = ensure_writable_dir(parent)
    prefix = f".{name}-"
    remove_stale(root, prefix)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root))
        os.chmod(stage, default_mode(directory=True))
    except OSError as exc:
        raise EvidentError(root, f"cannot write in the folder ({exc.strerror or exc})") from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np  # local: numpy only when used

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
