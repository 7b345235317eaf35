"""The per-slide ledger of a job in its output folder: done, failed (with the error), in progress.

Layout (docs/scheduler.md), one folder per job under the output folder::

    OUT/.evident/ledger/<job>/<slide>.json   finished: {"state": "done" | "failed", "settings", "input", "error", ...}
    OUT/.evident/ledger/<job>/<slide>.lock   in progress: {"run", "pid", "host", "started", "heartbeat_s"}

A record is written atomically (:func:`core.atomic.atomic_write_json`) before the lock is removed,
so a reader never sees a slide neither finished nor locked while its worker is alive. A lock is
created with ``O_CREAT | O_EXCL``: of two runs on the same folder exactly one gets it. A lock is
taken over (reclaimed) when its holder is gone: a process of this machine that no longer runs, or
an earlier attempt of the same run (the scheduler hands a slide out again only after the worker
doing it was lost), or a lock whose holder stopped refreshing it: the worker doing a slide touches
its lock every :data:`HEARTBEAT_S` seconds (:meth:`Ledger.holding`), and a lock untouched for
:data:`LOCK_EXPIRES_S` seconds is taken over whatever its host (a machine that vanished, a reused
pid). Locks of live processes, and of other machines that still refresh them, are left alone; so
are locks written by versions without the heartbeat (no ``heartbeat_s``) on other machines.

A ``done`` record counts as done when it was made under the job's settings and, where the job gives
an input key (:func:`core.schedule.job.job_input_key`), under the same input key. A record without
one (written before input keys, or by a job without them) counts as done and is given the current
key (:meth:`Ledger.adopt_input`), so later changes of the inputs are seen (docs/scheduler.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.atomic import atomic_write_json, ensure_writable_dir, process_alive

__all__ = ["Ledger", "Claim", "ledger_folder"]

#: a lock that cannot be read (its writer was killed between creating and filling it) is stale after this
_UNREADABLE_LOCK_S = 60.0
#: the short-lived mutex that serialises taking over a stale lock is itself stale after this
_RECLAIM_MUTEX_S = 30.0
#: a worker touches the lock of the slide it is doing this often (seconds)
HEARTBEAT_S = 60.0
#: a lock (with a heartbeat) untouched this long (seconds) is taken over, whichever machine wrote it
LOCK_EXPIRES_S = 900.0


def _file_name(key: str) -> str:
    """``key`` as one file-name component: safe characters kept, the rest %-escaped, long ones hashed."""
    name = urllib.parse.quote(key, safe="-_.")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > 180:
        name = f"{name[:120]}~{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
    return name or "%00"


def ledger_folder(out_dir: str | os.PathLike, job_name: str) -> Path:
    """``OUT/.evident/ledger/<job>``: where the records and locks of ``job_name`` live."""
    return Path(out_dir) / ".evident" / "ledger" / _file_name(job_name)


@dataclass(frozen=True)
class Claim:
    """Outcome of :meth:`Ledger.claim`: ``kind`` is ``"claimed"``, ``"done"`` or ``"busy"``;
    ``holder`` says who holds a busy slide (``pid 123 on host since 2026-…``)."""

    kind: str
    holder: str = ""


class Ledger:
    """The ledger of one job in one output folder, as one run (``run_id``) sees it.

    Parameters
    ----------
    out_dir
        The job's output folder; the ledger lives in ``OUT/.evident/ledger/<job_name>``.
    settings
        :func:`core.schedule.job.job_settings_key` of the job: a ``done`` record made under other
        settings does not count as done.
    run_id
        Identifies the run (one call of :func:`core.schedule.run_jobs`), shared by its workers.
    """

    def __init__(self, out_dir: str | os.PathLike, job_name: str, settings: str, run_id: str) -> None:
        self.out_dir = Path(out_dir)
        self.job_name = job_name
        self.settings = settings
        self.run_id = run_id
        self.folder = ledger_folder(out_dir, job_name)
        self.host = socket.gethostname()

    # -- paths and reading -------------------------------------------------------------------------
    def record_path(self, slide_id: str) -> Path:
        return self.folder / f"{_file_name(slide_id)}.json"

    def lock_path(self, slide_id: str) -> Path:
        return self.folder / f"{_file_name(slide_id)}.lock"

    def record(self, slide_id: str) -> dict | None:
        """The finished record of ``slide_id`` (any settings), ``None`` when there is none or it is unreadable."""
        return _read(self.record_path(slide_id))

    def counts_as_done(self, rec: dict | None, input_key: str | None = None) -> bool:
        """Whether record ``rec`` says done under this job's settings and inputs ``input_key``
        (``None``: unknown, not compared; a record without a key is not compared either)."""
        if not rec or rec.get("state") != "done" or rec.get("settings") != self.settings:
            return False
        recorded = rec.get("input")
        return input_key is None or recorded is None or recorded == input_key

    def is_done(self, slide_id: str, input_key: str | None = None) -> bool:
        return self.counts_as_done(self.record(slide_id), input_key)

    def done_ids(self, input_keys: Mapping[str, str | None] | None = None) -> set[str]:
        """Slides recorded done under this job's settings and, for those in ``input_keys``, the same
        input key (one listing of the folder)."""
        try:
            names = [e.name for e in os.scandir(self.folder) if e.name.endswith(".json")]
        except FileNotFoundError:
            return set()
        keys = input_keys or {}
        out = set()
        for name in names:
            rec = _read(self.folder / name)
            if rec and self.counts_as_done(rec, keys.get(str(rec.get("slide_id")))):
                out.add(str(rec.get("slide_id")))
        return out

    def forget(self, slide_id: str) -> None:
        """Remove ``slide_id``'s record (its outputs are gone: it is to be done again)."""
        with contextlib.suppress(FileNotFoundError):
            self.record_path(slide_id).unlink()

    def adopt_input(self, slide_id: str, input_key: str) -> bool:
        """Give a done record without an input key (an earlier version's) the key ``input_key``, under
        the slide's lock (a slide in progress elsewhere is left alone). Returns whether it did."""
        lock = self.lock_path(slide_id)
        try:
            self._create_lock(lock, self._holder(slide_id))
        except (FileExistsError, FileNotFoundError):
            return False
        try:
            rec = self.record(slide_id)
            if not self.counts_as_done(rec, input_key) or rec.get("input") is not None:
                return False
            atomic_write_json(self.record_path(slide_id), {**rec, "input": input_key, "input_adopted": _now()})
            return True
        finally:
            self.release(slide_id)

    # -- claiming --------------------------------------------------------------------------------
    def claim(self, slide_id: str, input_key: str | None = None) -> Claim:
        """Take the lock of ``slide_id`` for this process, unless it is done (under these settings and
        inputs ``input_key``) or another live run holds it."""
        if self.is_done(slide_id, input_key):
            return Claim("done")
        ensure_writable_dir(self.folder)
        lock = self.lock_path(slide_id)
        holder = None
        for _ in range(5):
            try:
                self._create_lock(lock, self._holder(slide_id))
            except FileExistsError:
                holder = _read(lock)
                if not self._stale(lock, holder):
                    return Claim("busy", _describe(holder))
                self._take_over(lock, holder)
                continue
            if self.is_done(slide_id, input_key):  # another run finished it between our check and our lock
                self.release(slide_id)
                return Claim("done")
            return Claim("claimed")
        return Claim("busy", _describe(holder))

    def _holder(self, slide_id: str) -> dict:
        return {"run": self.run_id, "pid": os.getpid(), "host": self.host, "started": _now(), "slide_id": slide_id,
                "heartbeat_s": HEARTBEAT_S}

    @contextlib.contextmanager
    def holding(self, slide_id: str) -> Iterator[None]:
        """While the body runs, ``slide_id``'s lock is touched every :data:`HEARTBEAT_S` seconds (by one
        daemon thread per process, shared by all slides), so that other runs see its holder alive; a
        lock no longer there is left alone."""
        lock = self.lock_path(slide_id)
        _heartbeat.add(lock)
        try:
            yield
        finally:
            _heartbeat.discard(lock)

    @staticmethod
    def _create_lock(lock: Path, holder: dict) -> None:
        """Create ``lock`` holding ``holder``, atomically and exclusively: the content is written to a
        private file first and hard-linked into place (``FileExistsError`` when the lock exists), so a
        worker killed while taking a lock never leaves an empty one that looks held by nobody. Where
        the file system has no hard links, ``O_EXCL`` creation and then the content."""
        tmp = lock.with_name(f"{lock.name}.{os.getpid()}.{threading.get_ident()}.new")
        tmp.write_text(json.dumps(holder), encoding="utf-8")
        try:
            os.link(tmp, lock)
        except FileExistsError:
            raise
        except OSError:  # no hard links here
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(holder, f)
        finally:
            tmp.unlink(missing_ok=True)

    def release(self, slide_id: str) -> None:
        """Remove this slide's lock (the slide stays as its record says)."""
        with contextlib.suppress(FileNotFoundError):
            self.lock_path(slide_id).unlink()

    def finish(self, slide_id: str, state: str, error: str | None = None, seconds: float = 0.0,
               detail: str | None = None, input_key: str | None = None) -> None:
        """Record ``slide_id`` as ``"done"`` or ``"failed"`` (with ``error``, one line, and ``detail``,
        the traceback) for inputs ``input_key`` (as seen before the slide started), then remove its lock."""
        rec = {"slide_id": slide_id, "job": self.job_name, "settings": self.settings, "input": input_key,
               "state": state, "error": error, "seconds": round(float(seconds), 4), "finished": _now(), "host": self.host,
               "pid": os.getpid(), "run": self.run_id}
        if detail:
            rec["traceback"] = detail
        atomic_write_json(self.record_path(slide_id), rec)
        self.release(slide_id)

    # -- stale locks -----------------------------------------------------------------------------
    def _stale(self, lock: Path, holder: dict | None) -> bool:
        if holder is None:  # killed between creating and filling it, or removed meanwhile
            try:
                return time.time() - lock.stat().st_mtime > _UNREADABLE_LOCK_S
            except FileNotFoundError:
                return True
        if holder.get("run") == self.run_id:  # an earlier attempt of this run: its worker was lost
            return True
        if holder.get("heartbeat_s") is not None:  # its holder refreshes it: untouched for long, it is gone
            try:
                if time.time() - lock.stat().st_mtime > LOCK_EXPIRES_S:
                    return True
            except FileNotFoundError:
                return True
        if holder.get("host") != self.host:  # another machine: its processes cannot be probed from here
            return False
        try:
            pid = int(holder.get("pid"))
        except (TypeError, ValueError):
            return False
        return pid != os.getpid() and not process_alive(pid)

    def _take_over(self, lock: Path, seen: dict | None) -> None:
        """Remove the stale ``lock`` if it still holds what we saw, under a short-lived mutex, so that
        two runs taking over the same lock never remove each other's fresh one."""
        mutex = lock.with_suffix(".reclaim")
        try:
            fd = os.open(mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - mutex.stat().st_mtime > _RECLAIM_MUTEX_S:
                    mutex.unlink()
            time.sleep(0.01)
            return
        os.close(fd)
        try:
            if _read(lock) == seen:
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        finally:
            with contextlib.suppress(FileNotFoundError):
                mutex.unlink()


class _Heartbeat:
    """The locks this process holds, touched every :data:`HEARTBEAT_S` seconds by one daemon thread
    (started on first use; woken when a lock is added, so a changed interval applies at once)."""

    def __init__(self) -> None:
        self.locks: dict[Path, int] = {}
        self.mutex = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, lock: Path) -> None:
        with self.mutex:
            self.locks[lock] = self.locks.get(lock, 0) + 1
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.thread, self.pid = threading.Thread(target=self._run, name="evident-lock-heartbeat",
                                                         daemon=True), os.getpid()
                self.thread.start()
        self.wake.set()

    def discard(self, lock: Path) -> None:
        with self.mutex:
            left = self.locks.pop(lock, 1) - 1
            if left > 0:
                self.locks[lock] = left

    def _run(self) -> None:
        while True:
            self.wake.wait(HEARTBEAT_S)
            self.wake.clear()
            with self.mutex:
                locks = list(self.locks)
            for lock in locks:
                with contextlib.suppress(OSError):
                    os.utime(lock)


_heartbeat = _Heartbeat()


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _describe(holder: dict | None) -> str:
    if not holder:
        return "a lock being written"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
