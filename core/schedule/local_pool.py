"""The local engine: ``workers`` spawned processes, each with the job's state from one ``setup``.

Each worker holds one slide at a time (nothing is queued inside a worker), so the driver always
knows which slide a lost worker was doing: it starts a replacement (which runs ``setup`` again) and
hands the slide out again, up to ``max_attempts`` times, then records it failed. With GPUs, worker
``i`` sees only GPU ``gpus[i]`` (``CUDA_VISIBLE_DEVICES`` set before the job is unpickled).

A worker whose driver is gone (killed) finishes the slide in hand, records it and exits: the
ledger then holds every slide whose work was done, and a rerun does only the rest.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

from core.errors import EvidentError
from core.schedule.ledger import Ledger
from core.schedule.slide_step import SlideResult, do_slide, error_text

__all__ = ["run_pool"]


def _worker(conn, job_bytes: bytes, ledger_args: tuple, gpu: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the workers itself
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    try:
        job = pickle.loads(job_bytes)
        state = job.setup()
    except Exception as exc:
        conn.send(("setup_failed", error_text(exc)))
        return
    ledger = Ledger(*ledger_args)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if msg is None:
            return
        slide_id, input_key = msg
        result = do_slide(job, state, ledger, slide_id, input_key)
        try:
            conn.send(("result", tuple(result)))
        except (BrokenPipeError, OSError):  # the driver is gone; the slide is recorded in the ledger
            return


class _Worker:
    def __init__(self, ctx, job_bytes: bytes, ledger_args: tuple, gpu: int | None) -> None:
        self.gpu = gpu
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, job_bytes, ledger_args, gpu))
        self.proc.start()
        child.close()
        self.ready = False
        self.slide: str | None = None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)


def run_pool(job_bytes: bytes, slide_ids: Sequence[tuple[str, str | None]], ledger: Ledger, workers: int, gpus: Sequence[int],
             stop_on_failure: bool, report: Callable[[SlideResult], None], max_attempts: int = 3) -> list[str]:
    """Run the pickled job on ``slide_ids``, ``(slide_id, input_key)`` pairs, in ``workers`` processes;
    return the slide ids never handed out.

    ``report`` is called in this process with each slide's :class:`SlideResult`. After a failure
    with ``stop_on_failure``, no further slide is handed out; the slides in hand finish.

    Raises
    ------
    EvidentError
        ``setup`` failed in a worker (the job cannot run at all), or workers keep dying before
        they are ready.
    """
    ctx = mp.get_context("spawn")
    ledger_args = (str(ledger.out_dir), ledger.job_name, ledger.settings, ledger.run_id)
    keys = dict(slide_ids)
    pending = deque(keys)
    attempts: dict[str, int] = {}
    pool = [_Worker(ctx, job_bytes, ledger_args, gpus[i] if gpus else None) for i in range(workers)]
    replacements = 0
    stopping = False
    try:
        while pool and (pending and not stopping or any(w.slide is not None for w in pool)):
            for w in pool:
                if w.ready and w.slide is None and pending and not stopping:
                    w.slide = pending.popleft()
                    attempts[w.slide] = attempts.get(w.slide, 0) + 1
                    w.conn.send((w.slide, keys[w.slide]))
            ready = wait([w.conn for w in pool] + [w.proc.sentinel for w in pool])
            for w in list(pool):
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        msg = None
                    if msg is not None:
                        if msg[0] == "setup_failed":
                            raise EvidentError(None, f"the {ledger.job_name} job could not start in a worker: {msg[1]}")
                        if msg[0] == "ready":
                            w.ready = True
                        else:
                            result = SlideResult(*msg[1])
                            w.slide = None
                            report(result)
                            stopping = stopping or (stop_on_failure and result.status == "failed")
                        continue
                if w.proc.sentinel in ready or not w.proc.is_alive():
                    w.proc.join(1)
                    pool.remove(w)
                    lost, code = w.slide, w.proc.exitcode
                    if lost is not None:
                        if attempts[lost] < max_attempts:
                            pending.appendleft(lost)
                        else:
                            text = f"its worker process died {attempts[lost]} times while doing it (exit code {code})"
                            ledger.finish(lost, "failed", text, input_key=keys[lost])
                            report(SlideResult(lost, "failed", text))
                            stopping = stopping or stop_on_failure
                    elif not w.ready:
                        replacements += 1
                    if replacements > 2 * workers + 2:
                        raise EvidentError(None, f"the {ledger.job_name} job's worker processes keep dying before "
                                                 f"they are ready (last exit code {code})")
                    if pending and not stopping:
                        pool.append(_Worker(ctx, job_bytes, ledger_args, w.gpu))
    except BaseException:  # Ctrl-C or an error here: stop now; the slides in hand are done again by a rerun
        for w in pool:
            w.proc.kill()
        for w in pool:
            w.proc.join(5)
        raise
    for w in pool:
        w.stop()
    for w in pool:
        w.proc.join(30)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(5)
    return list(pending)
