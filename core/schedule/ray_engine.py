"""The Ray engine: the same jobs on a Ray cluster (``pip install 'evident[cluster]'``, docs/scheduler.md).

One actor per GPU of the cluster (``num_gpus=1``: Ray gives it its own GPU), or per worker on a
cluster without GPUs, holding the state from one ``setup``; each actor does one slide at a time.
Each actor uses the driver's ``OMP_NUM_THREADS`` (unset: torch's default), as the serial loop and
the local pool do, so that all engines write the same bytes. A lost actor is restarted (``max_restarts``, ``setup`` runs again) and its slide retried
(``max_task_retries``); the retry takes over the lock of the lost attempt (same run). The ledger
in the output folder stays the single source of truth, so the output folder must be one that every
node of the cluster sees at the same path (a shared file system).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections import deque
from collections.abc import Callable, Sequence

from core.errors import EvidentError
from core.schedule.ledger import Ledger
from core.schedule.slide_step import SlideResult, do_slide, error_text

__all__ = ["run_ray", "ACTOR_PREFIX"]

#: actors are named ``<ACTOR_PREFIX><run id>-<i>`` in the driver's namespace
ACTOR_PREFIX = "evident-"
_MAX_RESTARTS = 2


class _SlideWorker:
    """Body of the Ray actor (wrapped by ``ray.remote`` in :func:`run_ray`)."""

    def __init__(self, job_bytes: bytes, ledger_args: tuple, threads: str | None) -> None:
        # the driver's thread setting, not Ray's OMP_NUM_THREADS=<actor CPUs>: the number of threads
        # changes how float sums are split, and so the output bytes (set before the job imports torch)
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = threads
        self.job = pickle.loads(job_bytes)
        self.state = self.job.setup()
        self.ledger = Ledger(*ledger_args)

    def ready(self) -> bool:
        return True

    def do(self, slide_id: str, input_key: str | None = None) -> tuple:
        return tuple(do_slide(self.job, self.state, self.ledger, slide_id, input_key))


def _import_ray():
    try:
        import ray  # local: Ray is the optional extra evident[cluster]
    except ImportError:
        raise EvidentError(None, "--engine ray needs Ray: pip install 'evident[cluster]'") from None
    return ray


def run_ray(job_bytes: bytes, slide_ids: Sequence[tuple[str, str | None]], ledger: Ledger, workers: int | None, address: str | None,
            stop_on_failure: bool, report: Callable[[SlideResult], None]) -> list[str]:
    """Run the pickled job on ``slide_ids``, ``(slide_id, input_key)`` pairs, on Ray; return the slide
    ids never handed out.

    Connects to ``address`` (``ray://host:10001`` or ``host:6379``; ``None``: the cluster this
    process is already connected to, else the one ``RAY_ADDRESS`` names, else a new local one),
    and disconnects at the end only when it connected here.

    Raises
    ------
    EvidentError
        Ray is not installed, the cluster cannot be reached, or ``setup`` failed on an actor.
    """
    ray = _import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            ray.init(address=address, logging_level="warning")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EvidentError(address, f"cannot connect to the Ray cluster ({error_text(exc)})") from None
    actors = []
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        n = workers or gpus or max(1, int(resources.get("CPU", 1)))
        n = max(1, min(n, len(slide_ids)))
        cls = ray.remote(_SlideWorker)
        # absolute: an actor on another node does not run in this process's folder
        ledger_args = (os.path.abspath(ledger.out_dir), ledger.job_name, ledger.settings, ledger.run_id)
        threads = os.environ.get("OMP_NUM_THREADS")
        actors = [cls.options(name=f"{ACTOR_PREFIX}{ledger.run_id}-{i}", num_cpus=1, num_gpus=1 if gpus else 0,
                              max_restarts=_MAX_RESTARTS, max_task_retries=_MAX_RESTARTS)
                  .remote(job_bytes, ledger_args, threads) for i in range(n)]
        try:
            ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayError as exc:
            raise EvidentError(None, f"the {ledger.job_name} job could not start on Ray: {_cause(exc)}") from None
        return _dispatch(ray, actors, slide_ids, ledger, stop_on_failure, report)
    finally:
        for a in actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(a)
        if connected_here:
            ray.shutdown()


def _dispatch(ray, actors, slide_ids, ledger, stop_on_failure, report) -> list[str]:
    keys = dict(slide_ids)
    pending = deque(keys)
    idle = deque(actors)
    in_flight: dict = {}  # object ref -> (actor, slide id)
    stopping = False
    while (pending and not stopping and (idle or in_flight)) or in_flight:
        while idle and pending and not stopping:
            actor, slide = idle.popleft(), pending.popleft()
            in_flight[actor.do.remote(slide, keys[slide])] = (actor, slide)
        done, _ = ray.wait(list(in_flight), num_returns=1)
        actor, slide = in_flight.pop(done[0])
        try:
            result = SlideResult(*ray.get(done[0]))
        except ray.exceptions.RayActorError as exc:  # lost beyond its restarts: this actor is gone
            text = f"its Ray worker was lost ({_cause(exc)})"
            ledger.finish(slide, "failed", text, input_key=keys[slide])
            result = SlideResult(slide, "failed", text)
            if not idle and not in_flight and pending:
                raise EvidentError(None, f"every Ray worker of the {ledger.job_name} job was lost") from None
        else:
            idle.append(actor)
        report(result)
        stopping = stopping or (stop_on_failure and result.status == "failed")
    return list(pending)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
