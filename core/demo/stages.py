"""Cached pipeline stages and in-process calls of the ``evident`` subcommands the demo drives.

A stage's fingerprint is the sha256 of its name, its parameters and the fingerprints of the stages
it depends on; it is stored in ``WS/.stages/<name>.json`` when the stage finishes. A stage is skipped
when its stored fingerprint matches and its outputs exist. Subcommands are called as Python
functions through a :data:`CommandRunner` (``args._run(args)`` of the parser the ``evident demo``
command hands over), never as subprocesses; their standard output goes to ``WS/logs/<stage>.log``.

A *resumable* stage (one that writes a folder it can continue, such as ``evident train --resume``) also
records its fingerprint, parameters and upstream fingerprints in ``WS/.stages/<name>.started.json``
before it starts. When its folder already holds work, a rerun continues it if that record matches the
stage's fingerprint, empties it under ``--rebuild``, and otherwise stops with an error naming the
folder and what differs (docs/demo.md, "Interrupted runs").
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import __version__
from core.atomic import atomic_write_json, ensure_writable_dir
from core.errors import EvidentError

__all__ = ["CommandRunner", "StageResult", "StageRunner", "command_runner"]


@dataclass
class StageResult:
    """What happened to one stage.

    Attributes
    ----------
    name
        Stage name.
    status
        ``"done"`` (ran now) or ``"cached"`` (outputs reused).
    detail
        A short note.
    fingerprint
        The stage's fingerprint (empty unless done or cached).
    seconds
        Wall time spent (0 when cached).
    """

    name: str
    status: str
    detail: str = ""
    fingerprint: str = ""
    seconds: float = 0.0



#: Runs ``evident ARGV`` in this process: ``run_command(argv, log=None) -> exit status``.
CommandRunner = Callable[[Sequence[object], "Path | None"], int]


def command_runner(build_parser: Callable[[], argparse.ArgumentParser]) -> CommandRunner:
    """A :data:`CommandRunner` over the ``evident`` parser ``build_parser`` builds (given by the
    ``evident demo`` command, :func:`core.commands.build_parser`: the demo sits below the commands).

    The runner parses ``argv`` and calls the sub-command's ``run`` in this process; its stdout is
    appended to ``log`` when given. ``EvidentError`` propagates (the demo's CLI prints it as one line).
    """

    def run_command(argv: Sequence[object], log: Path | None = None) -> int:
        args = build_parser().parse_args([str(a) for a in argv])
        if log is None:
            return int(args._run(args) or 0)
        ensure_writable_dir(log.parent)
        with open(log, "a", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
            print(f"$ evident {' '.join(str(a) for a in argv)}", flush=True)
            return int(args._run(args) or 0)

    return run_command


@dataclass
class StageRunner:
    """Runs stages in order inside workspace ``root``, caching each by fingerprint."""

    root: Path
    rebuild: bool = False
    echo: Callable[[str], None] = print
    results: dict[str, StageResult] = field(default_factory=dict)

    def _record(self, name: str) -> Path:
        return self.root / ".stages" / f"{name}.json"

    def _started(self, name: str) -> Path:
        return self.root / ".stages" / f"{name}.started.json"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def fingerprint(self, name: str, params: dict, deps: Sequence[str]) -> str:
        doc = {"stage": name, "version": __version__, "params": params,
               "deps": [self.results[d].fingerprint for d in deps]}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()

    def record(self, name: str, status: str, *, params: dict, seconds: float = 0.0, detail: str = "",
               deps: Sequence[str] = ()) -> StageResult:
        """Record a stage that caches itself (``status`` ``"done"`` or ``"cached"``)."""
        res = StageResult(name, status, detail, self.fingerprint(name, params, deps), seconds)
        self.results[name] = res
        self._echo(res)
        return res

    def _echo(self, res: StageResult) -> None:
        extra = f" ({res.seconds:.1f} s)" if res.status == "done" else ""
        self.echo(f"[{res.name}] {res.status}{extra}{': ' + res.detail if res.detail else ''}")

    def run(self, name: str, title: str, fn: Callable[[], object], *, params: dict | None = None,
            deps: Sequence[str] = (), outputs: Callable[[], bool] = lambda: True,
            resumable: Path | None = None) -> StageResult:
        """Run stage ``name`` unless cached (``deps``: earlier stages whose fingerprints it includes).

        ``fn`` does the work; it may return a short note shown after the stage line. An exception
        from ``fn`` propagates and records nothing (the stage runs again next time).

        ``resumable`` is the folder a stage that can continue its own interrupted work writes (``fn``
        must resume what it finds there, e.g. ``evident train --resume``); see :meth:`_prepare_resume`.

        Raises
        ------
        core.errors.EvidentError
            ``resumable`` holds work made with other settings (not under ``rebuild``).
        """
        fp = self.fingerprint(name, params or {}, deps)
        rec = self._record(name)
        try:
            cached = json.loads(rec.read_text(encoding="utf-8")).get("fingerprint") == fp
        except (OSError, ValueError, AttributeError):
            cached = False
        if cached and not self.rebuild and outputs():
            res = StageResult(name, "cached", "outputs up to date", fp)
        else:
            rec.unlink(missing_ok=True)
            if resumable is not None:
                self._prepare_resume(name, fp, params or {}, deps, Path(resumable))
            self.echo(f"[{name}] {title} ...")
            t0 = time.perf_counter()
            note = fn()
            res = StageResult(name, "done", str(note or ""), fp, time.perf_counter() - t0)
            atomic_write_json(rec, {"fingerprint": fp, "seconds": round(res.seconds, 2)})
        self.results[name] = res
        self._echo(res)
        return res

    def _prepare_resume(self, name: str, fp: str, params: dict, deps: Sequence[str], folder: Path) -> None:
        """Make ``folder`` safe to continue: kept when the stage that left work there had fingerprint
        ``fp``, emptied under ``rebuild``, else an :class:`~core.errors.EvidentError` naming the folder
        and what differs. Then records ``fp`` as started."""
        started = self._started(name)
        if folder.is_dir() and any(folder.iterdir()):
            if self.rebuild:
                shutil.rmtree(folder)
                self.echo(f"[{name}] --rebuild: removed the earlier run in {folder}")
            else:
                try:
                    old = json.loads(started.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    old = None
                if not isinstance(old, dict) or old.get("fingerprint") != fp:
                    raise EvidentError(folder, f"holds the {name} stage's run from other settings "
                                               f"({self._differences(old, params, deps)}); run `evident demo "
                                               "--rebuild` to redo it, or use another --workspace")
                self.echo(f"[{name}] resuming the interrupted run in {folder}")
        atomic_write_json(started, {"fingerprint": fp, "version": __version__,
                                    "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
                                    "deps": {d: self.results[d].fingerprint for d in deps}})

    def _differences(self, old, params: dict, deps: Sequence[str]) -> str:
        """What differs between a started record ``old`` and the settings now, in words."""
        if not isinstance(old, dict):
            return "its settings are not recorded in .stages/"
        now = json.loads(json.dumps(params, sort_keys=True, default=str))
        before = old.get("params") if isinstance(old.get("params"), dict) else {}
        parts = [f"{k}: {before.get(k)!r} then, {now.get(k)!r} now"
                 for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
        old_deps = old.get("deps") if isinstance(old.get("deps"), dict) else {}
        parts += [f"the {d} stage changed" for d in deps if old_deps.get(d) != self.results[d].fingerprint]
        if old.get("version") != __version__:
            parts.append(f"evident {old.get('version')} then, {__version__} now")
        return "; ".join(parts) or "unknown difference"


def tree_digest(paths: Sequence[os.PathLike]) -> str:
    """sha256 over (name, size, mtime_ns) of files; used as an external input's fingerprint."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
