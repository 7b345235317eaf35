"""Benchmark group ``explain``: exact fast paths against the slow way, measured in the same run.

Cases (untrained hosts with fixed seeds; D = 512, H = 256):

* ``loo_<N>``: closed-form leave-one-out (one pass) against N real forwards of bags of N − 1
  patches. The baseline is timed on ``sample`` of those forwards and scaled to N (each costs the
  same); ``max_abs_diff`` compares the sampled patches' scores.
* ``intervene_<host>_<N>``: one remove-5 % intervention on the engine's cache against one full
  forward of the model on the bag (GCE selector included for ``abmil_gce``); ``max_abs_diff``:
  the engine's output against a real forward on the sub-bag.
* ``evsearch_<host>_<N>``: the evidence search (:mod:`core.diagnostics.evidence_search`, default
  settings, linear scan) -- the smallest sufficient-and-necessary subset plus the evidence sets --
  on the engine's cache, against the same search with one real forward per bag (the naive way).
  The naive evidence sets run in full; the naive sufficient-and-necessary scan is timed on
  ``sample`` keep + remove forward pairs at prefix sizes spread over the scan and scaled to the
  pairs the search evaluated. ``sets_ours_ms`` / ``sets_baseline_ms``: the evidence sets alone
  (both measured in full). ``same_subsets``: both ways chose the same evidence sets;
  ``max_abs_diff``: their S/N numbers; ``engine_ms``: building the cache (one forward), not in ``ours_ms``.
* ``ig50_<N>``: our integrated gradients (50 midpoint steps, one bag per step, 10 steps per
  backward) against Captum's ``IntegratedGradients`` with ``internal_batch_size=1``.

Where a CUDA device exists, ``intervene_*`` and ``ig50_*`` run again on it (cases suffixed
``_cuda``, the baseline on the same device; every timed call ends by copying its result to the
host, which waits for the kernels).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from core.diagnostics.evidence_search import SearchConfig, search_subset
from core.diagnostics.evidence_sets import evidence_sets
from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.search_evaluators import ForwardEvaluator, make_evaluator
from core.explain.integrated_gradients import IntegratedGradientsExplainer
from core.explain.leave_one_out import LeaveOneOutExplainer
from core.models.base import HostConfig
from core.models.gce import GCEConfig, build_gce
from core.models.registry import build_host
from core.timing import best_ms

__all__ = ["GROUP", "run"]

GROUP = "explain"
D, H = 512, 256




def _model(name: str, gce: bool = False):
    torch.manual_seed(0)
    host = build_host(name, HostConfig(in_dim=D, n_outputs=2, hidden=H, attn_hidden=128, dropout=0.0)).eval()
    if not gce:
        return host

    anchors = np.random.default_rng(0).standard_normal((8, D)).astype(np.float32)
    return build_gce(host, anchors, GCEConfig()).eval()


def _bag(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D)).astype(np.float32), rng.integers(0, 100_000, (n, 2))


def _loo(n: int, sample: int) -> dict:
    model = _model("abmil", gce=True)
    x, c = _bag(n)
    ex = LeaveOneOutExplainer(model)
    ours_ms = best_ms(lambda: ex.attribute(x, c), 2)[0]
    ours = ex.attribute(x, c)
    ctx = ex.prepare(x, c)
    pick = np.random.default_rng(1).choice(n, size=sample, replace=False)
    ref = np.empty(sample)
    t0 = time.perf_counter()
    with torch.no_grad():
        full = ctx.output[ctx.target]
        for j, k in enumerate(pick):
            keep = torch.ones(n, dtype=torch.bool)
            keep[int(k)] = False
            ref[j] = float(full - ex.f(ctx.x[keep], ctx.coords[keep], ctx.gates[keep], ctx.target))
    base_ms = (time.perf_counter() - t0) * 1000.0 / sample * n
    return {"case": f"loo_{n}", "ours_ms": ours_ms, "baseline_ms": base_ms, "speedup": base_ms / ours_ms,
            "max_abs_diff": float(np.abs(ours[pick] - ref).max()), "baseline": f"{n} forwards (from {sample} timed)"}


def _suffix(device: str) -> str:
    return "" if device == "cpu" else f"_{device}"


def _intervene(name: str, gce: bool, n: int, device: str = "cpu") -> dict:
    model = _model(name, gce).to(device)
    x, c = _bag(n)
    eng = InterventionEngine(model, x, c, device=device)
    idx = np.random.default_rng(2).choice(n, size=n // 20, replace=False)
    ours_ms = best_ms(lambda: eng.remove(idx), 5)[0]
    xt, ct = eng.x, eng.coords
    with torch.inference_mode():
        def forward():
            out = model(xt, ct)
            return (out.host if gce else out).output.cpu()

        base_ms = best_ms(forward, 3)[0]
        keep = torch.from_numpy(np.setdiff1d(np.arange(n), idx)).to(device)
        ref = eng.host(xt[keep], ct[keep], gate=None if eng.gates is None else eng.gates[keep]).output.cpu().double().numpy()
    got = eng.remove(idx).probs_after
    e = np.exp(ref - ref.max())
    label = f"{name}_gce" if gce else name
    return {"case": f"intervene_{label}_{n}{_suffix(device)}", "ours_ms": ours_ms, "baseline_ms": base_ms,
            "speedup": base_ms / ours_ms, "max_abs_diff": float(np.abs(got - e / e.sum()).max()),
            "baseline": "one full forward"}


def _search(name: str, gce: bool, n: int, sample: int = 20, device: str = "cpu") -> dict:

    model = _model(name, gce).to(device)
    x, c = _bag(n)
    t0 = time.perf_counter()
    eng = InterventionEngine(model, x, c, device=device)
    engine_ms = (time.perf_counter() - t0) * 1000.0
    guide = eng.keep_only(np.arange(n)).attention_after  # (N,) attention on the full bag
    cfg = SearchConfig(scan="linear")
    def ours():
        ev = make_evaluator(eng, cfg.path)
        return search_subset(eng, guide, cfg, evaluator=ev), evidence_sets(eng, guide, cfg, evaluator=ev)

    ours_ms, (sn, sets) = best_ms(ours, 3)
    sets_ours_ms = best_ms(lambda: evidence_sets(eng, guide, cfg), 3)[0]
    t0 = time.perf_counter()
    slow = evidence_sets(eng, guide, replace(cfg, path="forward"))
    sets_ms = (time.perf_counter() - t0) * 1000.0
    order = np.argsort(-guide, kind="stable")
    fw = ForwardEvaluator(eng)
    ks = np.unique(np.linspace(1, max(1, n // 2), sample).astype(int))
    t0 = time.perf_counter()
    for k in ks:
        fw.sets([order[:k]])
    pair_ms = (time.perf_counter() - t0) * 1000.0 / ks.size
    base_ms = sets_ms + pair_ms * sn.n_evaluations / 2
    same = len(sets.sets) == len(slow.sets) and all(np.array_equal(a.indices, b.indices) for a, b in zip(sets.sets, slow.sets))
    diff = max([abs(a.phi_keep - b.phi_keep) for a, b in zip(sets.sets, slow.sets)]
               + [abs(a.remove_union_degradation - b.remove_union_degradation) for a, b in zip(sets.sets, slow.sets)] or [0.0])
    label = f"{name}_gce" if gce else name
    return {"case": f"evsearch_{label}_{n}{_suffix(device)}", "ours_ms": ours_ms, "baseline_ms": base_ms,
            "speedup": base_ms / ours_ms, "max_abs_diff": float(diff),
            "baseline": f"same search, one forward per bag (S&N scan from {ks.size} timed pairs)",
            "same_subsets": same, "engine_ms": engine_ms, "sets_ours_ms": sets_ours_ms, "sets_baseline_ms": sets_ms, "n_sets": len(sets.sets), "set_sizes": ";".join(map(str, sets.sizes)),
            "sn": f"{sn.stop_reason} ({sn.indices.size} patches, {sn.n_evaluations} evaluations)"}


def _ig(n: int, device: str = "cpu") -> dict:
    from captum.attr import IntegratedGradients  # local: captum only when used


    model = _model("abmil", gce=True).to(device)
    x, c = _bag(n)
    ex = IntegratedGradientsExplainer(model, device=device)
    ctx = ex.prepare(x, c)
    ours_ms = best_ms(lambda: ex.attribute(x, c), 1)[0]
    ours = ex.attribute(x, c)

    def forward(batch):  # (B, N, D) -> (B,), one bag per row
        return torch.stack([ex.f(b, ctx.coords, ctx.gates, ctx.target) for b in batch])

    ig = IntegratedGradients(forward)
    xin, base = ctx.x[None], torch.zeros(1, *x.shape, device=device)
    run = lambda: ig.attribute(xin, baselines=base, n_steps=50, method="riemann_middle", internal_batch_size=1).cpu()
    base_ms = best_ms(run, 1)[0]
    ref = run()[0].sum(1).detach().numpy()
    return {"case": f"ig50_{n}{_suffix(device)}", "ours_ms": ours_ms, "baseline_ms": base_ms,
            "speedup": base_ms / ours_ms, "max_abs_diff": float(np.abs(ours - ref).max()),
            "baseline": "Captum IG, one bag per step"}


def run(quick: bool = False) -> list[dict]:
    """Rows ``{case, ours_ms, baseline_ms, speedup, max_abs_diff, baseline}``."""
    big = 20_000 if quick else 100_000
    rows = [_loo(2_000 if quick else 10_000, 50 if quick else 200)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        rows += [_intervene("abmil", True, big, dev), _intervene("clam_sb", False, big, dev)]
        n_search = 2_000 if quick else 10_000
        rows += [_search("abmil", True, n_search, device=dev), _search("clam_sb", False, n_search, device=dev)]
        rows.append(_ig(1_000 if quick else 5_000, dev))
    return rows
