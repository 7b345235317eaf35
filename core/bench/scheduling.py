"""Scaling of the per-slide scheduler (docs/scheduler.md): slides per minute of the local pool and of
Ray with 1..k workers, each against the serial loop measured in the same run.

Not a group of its own: ``evident bench cohort`` (core/bench/cohort.py) calls :func:`scheduling_rows`
with its own job, or :func:`scheduling_bench` for the default workload here: ``evident explain``
(attention, gradient, integrated gradients with 50 steps) of an untrained ABMIL (D = 512, H = 256)
on synthetic feature bags, on the CPU.

Every time is the wall time of one :func:`core.schedule.run_jobs` call into a fresh folder: worker
start-up and the job's ``setup`` (model loading) included, as a user sees it; the best of
``repeats`` rounds. Ray is started once
before its rows (``ray_init_ms``, not in the rows' times) with as many CPUs as the most workers.
``max_abs_diff`` is 0 when the engine's outputs are byte-identical to the serial loop's, else NaN.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from core.schedule import run_jobs

__all__ = ["scheduling_rows", "scheduling_bench", "explain_workload"]


def _outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".evident" not in p.relative_to(folder).parts}


def _timed(job, ids, out: Path, **kw) -> float:
    t0 = time.perf_counter()
    summary = run_jobs(job, ids, out, progress=False, **kw)
    seconds = time.perf_counter() - t0
    if not summary.complete:
        raise RuntimeError(f"scheduling benchmark: {kw} did not complete: {summary}")
    return seconds


def scheduling_rows(job, slide_ids: Sequence[str], *, workers: Sequence[int] = (1, 2),
                    engines: Sequence[str] = ("pool", "ray"), repeats: int = 1, workdir: str | Path | None = None,
                    label: str = "") -> list[dict]:
    """One row per engine and worker count: ``case`` ``<label><engine>_<k>w``, ``ours_ms`` (wall time of
    the run), ``baseline_ms`` (the serial loop, same job and slides, same run), ``speedup``,
    ``max_abs_diff`` (0: same output bytes as serial), ``slides``, ``slides_per_min``,
    ``baseline_slides_per_min``, ``load_1min`` (the machine's load average when the row's best run
    started: other work on the machine slows every row); Ray rows also ``ray_init_ms``.

    ``repeats`` rounds run every configuration once each, serial first, in turn (drift of the
    machine's load spreads over all of them); each row keeps its fastest round. Ray rows are left
    out (one row with ``note``) when Ray is not installed."""
    ids = list(slide_ids)
    root = Path(tempfile.mkdtemp(prefix="evident-sched-", dir=workdir))
    configs = [("serial", 1)]
    ray_started, init_ms, rows = False, float("nan"), []
    for engine in engines:
        if engine == "ray":
            try:
                import ray  # local: the optional extra evident[cluster]
            except ImportError:
                rows.append({"case": f"{label}ray", "ours_ms": math.nan, "baseline_ms": math.nan, "speedup": math.nan,
                             "max_abs_diff": math.nan, "note": "ray not installed (pip install 'evident[cluster]')"})
                continue
            if not ray.is_initialized():
                t0 = time.perf_counter()
                ray.init(num_cpus=max(workers), include_dashboard=False, logging_level="error")
                init_ms, ray_started = (time.perf_counter() - t0) * 1e3, True
        configs += [(engine, k) for k in workers]
    best: dict[tuple, tuple[float, float]] = {}
    same: dict[tuple, bool] = {}
    try:
        reference = None
        for _ in range(max(1, repeats)):
            for engine, k in configs:
                out = root / f"{engine}{k}"
                load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
                seconds = _timed(job, ids, out, engine=engine, workers=None if engine == "serial" else k)
                outputs = _outputs(out)
                reference = outputs if reference is None else reference
                same[(engine, k)] = same.get((engine, k), True) and outputs == reference
                if (engine, k) not in best or seconds < best[(engine, k)][0]:
                    best[(engine, k)] = (seconds, load)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if ray_started:
            import ray

            ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    serial_s = best[("serial", 1)][0]
    for (engine, k), (seconds, load) in best.items():
        if engine == "serial":
            continue
        row = {"case": f"{label}{engine}_{k}w", "ours_ms": seconds * 1e3, "baseline_ms": serial_s * 1e3,
               "speedup": serial_s / seconds, "max_abs_diff": 0.0 if same[(engine, k)] else math.nan,
               "slides": len(ids), "slides_per_min": 60.0 * len(ids) / seconds,
               "baseline_slides_per_min": 60.0 * len(ids) / serial_s, "load_1min": load}
        if engine == "ray":
            row["ray_init_ms"] = init_ms
        rows.append(row)
    return rows


def explain_workload(folder: str | Path, n_slides: int, n_patches: int, dim: int = 512, seed: int = 0,
                     methods: tuple = ("attention", "gradient", "ig")):
    """``(job, slide_ids)``: the ``evident explain`` job (``methods``; integrated gradients with 50
    steps) over ``n_slides`` synthetic bags of ``n_patches`` patches × ``dim`` features written into
    ``folder``, with an untrained ABMIL checkpoint."""
    import numpy as np  # local: only when the benchmark runs
    import torch

    from core.data.bag import FeatureBag
    from core.data.bags import write_bag
    from core.diagnostics.explain_job import ExplainJob
    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    host = build_host("abmil", HostConfig(in_dim=dim, n_outputs=2, hidden=256, attn_hidden=128, dropout=0.0)).eval()
    ckpt = folder / "model.pt"
    save_checkpoint(ckpt, host, {"host": "abmil", "host_config": host.config.to_dict(), "task": "classification",
                                 "classes": ["a", "b"]})
    rng = np.random.default_rng(seed)
    side = int(math.ceil(math.sqrt(n_patches)))
    coords = np.stack(np.divmod(np.arange(n_patches), side), axis=1)[:, ::-1].astype(np.int64) * 256
    bags = {}
    for i in range(n_slides):
        sid = f"slide{i:04d}"
        path = folder / f"{sid}.h5"
        write_bag(path, FeatureBag(rng.standard_normal((n_patches, dim)).astype(np.float32), coords, 256, sid))
        bags[sid] = str(path)
    job = ExplainJob(model=str(ckpt), device="cpu", methods=tuple(methods), target=None,
                     options=(("ig", (("method", "riemann_middle"), ("n_steps", 50))),), bags=bags)
    return job, list(bags)


def scheduling_bench(quick: bool = False, engines: Sequence[str] = ("pool", "ray"),
                     workers: Sequence[int] = (1, 2), repeats: int = 2) -> list[dict]:
    """:func:`scheduling_rows` on :func:`explain_workload`: 4 slides of 1,000 patches (``quick``) or
    12 slides of 2,000 patches."""
    n_slides, n_patches = (4, 1000) if quick else (12, 2000)
    with tempfile.TemporaryDirectory(prefix="evident-sched-in-") as tmp:
        job, ids = explain_workload(tmp, n_slides, n_patches)
        return scheduling_rows(job, ids, workers=workers, engines=engines, repeats=1 if quick else repeats,
                               workdir=tmp, label=f"explain_{n_patches}p_")
