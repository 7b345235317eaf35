"""Cached pipeline stages and in-process calls of the ``evident`` subcommands the demo drives.

A stage's fingerprint is the sha256 of its name, its parameters and the fingerprints of the stages
it depends on; it is stored in ``WS/.stages/<name>.json`` when the stage finishes. A stage is skipped
when its stored fingerprint matches and its outputs exist. Subcommands are called as Python
functions (``args._run(args)`` of :func:`core.cli.build_parser`), never as subprocesses; their
standard output goes to ``WS/logs/<stage>.log``. A stage whose subcommand (or a flag it needs) does
not exist yet is reported as *missing* with the reason, never faked.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import __version__
from core.atomic import atomic_write_json, ensure_writable_dir
from core.cli import build_parser

__all__ = ["StageResult", "StageRunner", "command_available", "run_command"]


@dataclass
class StageResult:
    """What happened to one stage.

    Attributes
    ----------
    name
        Stage name.
    status
        ``"done"`` (ran now), ``"cached"`` (outputs reused), ``"missing"`` (a part it needs does not
        exist yet), ``"blocked"`` (a stage it depends on did not run) or ``"skipped"`` (not asked for).
    detail
        Why (for missing/blocked/skipped), or a short note.
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

    @property
    def ok(self) -> bool:
        return self.status in ("done", "cached")


def _subparser(command: str):

    parser = build_parser()
    for action in parser._actions:  # argparse keeps sub-parsers here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command)
    return None


def command_available(command: str, flags: Sequence[str] = ()) -> str:
    """``""`` when ``evident COMMAND`` exists with every flag in ``flags``, else why not (one line)."""
    sub = _subparser(command)
    if sub is None:
        return f"there is no `evident {command}` command yet"
    lacking = [f for f in flags if f not in sub._option_string_actions]
    if lacking:
        return f"`evident {command}` has no {', '.join(lacking)} option yet"
    return ""


def run_command(argv: Sequence[str], log: Path | None = None) -> int:
    """Run ``evident ARGV`` in this process; its stdout is appended to ``log`` when given.

    ``EvidentError`` propagates (the demo's CLI prints it as one line). Returns the exit status.
    """
    args = build_parser().parse_args([str(a) for a in argv])
    if log is None:
        return int(args._run(args) or 0)
    ensure_writable_dir(log.parent)
    with open(log, "a", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
        print(f"$ evident {' '.join(str(a) for a in argv)}", flush=True)
        return int(args._run(args) or 0)


@dataclass
class StageRunner:
    """Runs stages in order inside workspace ``root``, caching each by fingerprint."""

    root: Path
    rebuild: bool = False
    echo: Callable[[str], None] = print
    results: dict[str, StageResult] = field(default_factory=dict)

    def _record(self, name: str) -> Path:
        return self.root / ".stages" / f"{name}.json"

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
            needs: tuple[str, Sequence[str]] | None = None) -> StageResult:
        """Run stage ``name`` unless cached; ``needs = (command, flags)`` it requires.

        ``fn`` does the work; it may return a short note shown after the stage line.
        """
        blocked = [d for d in deps if not self.results.get(d, StageResult(d, "missing")).ok]
        if blocked:
            res = StageResult(name, "blocked", f"needs stage(s) {', '.join(blocked)}")
        elif needs is not None and (why := command_available(needs[0], needs[1])):
            res = StageResult(name, "missing", why)
        else:
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
                self.echo(f"[{name}] {title} ...")
                t0 = time.perf_counter()
                note = fn()
                res = StageResult(name, "done", str(note or ""), fp, time.perf_counter() - t0)
                atomic_write_json(rec, {"fingerprint": fp, "seconds": round(res.seconds, 2)})
        self.results[name] = res
        self._echo(res)
        return res


def tree_digest(paths: Sequence[os.PathLike]) -> str:
    """sha256 over (name, size, mtime_ns) of files; used as an external input's fingerprint."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
