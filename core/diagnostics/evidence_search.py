"""The smallest sufficient-and-necessary patch subset of one bag, by exact interventions (docs/evidence_search.md).

Definitions (method.md §2; Φ, gates and the empty bag as in :class:`InterventionEngine`)::

    Φ(X)         probability of the full bag's predicted class c (softmax of the host's logits);
                 survival: sigmoid((risk − μ) / σ) with the engine's risk_scale (μ, σ);
                 regression: the predicted value in target-SD units
    sufficient   keep-only X_S predicts c  and  Φ(X_S) ≥ Φ(X) − δs          (survival: Φ only)
    necessary    removal X_¬S predicts a class ≠ c  or  Φ(X) − Φ(X_¬S) ≥ δn (survival: Φ only)
    regression   sufficient: |Φ(X_S) − Φ(X)| ≤ δs;  necessary: |Φ(X_¬S) − Φ(X)| ≥ δn (δ in target SDs)

A GCE model's gates stay at their full-bag values in both interventions; X_¬S = ∅ is the engine's
empty bag (one all-zero patch).

Search (:func:`search_subset`), over a pool P ⊆ {0..N−1} (default: the whole bag) ranked by a guide
map g (N,) -- any per-patch score where higher means more evidence for c (attention, gate, IG, LOO...),
ties broken by patch index:

* ``greedy``: S_k = the k best-ranked pool patches; the answer is the smallest k ≤ K_max whose S_k
  meets the criterion. ``scan="linear"`` tries every k (on the cache all prefixes come from one
  cumulative sum: O(K_max · H) plus one batched head); ``scan="gallop"`` tries k = 1, 2, 4, ... then
  bisects between the last failing and first passing k (O(log K_max) interventions; the smallest k
  only if the criterion is monotone along the ranking -- the answer always meets it).
* ``beam``: B states (start: ∅); each step extends every state by one of its ``branch`` best-ranked
  pool patches not yet in it, scores the children by exact interventions (criterion ``sufficient``:
  Φ(X_S); ``sufficient_necessary``: Φ(X_S) − Φ(X_¬S)) and keeps the B best; stops at the first
  step where a child meets the criterion (the best-scoring such child). At most
  min(K_max, 256) steps, O(K_max · B · branch) interventions, each O(H) on the cache (the
  parent's sums plus one patch).

Then, with ``prune`` (default on), one backward pass drops each member, least-ranked first, when
the rest still meets the criterion (one keep-only + one removal per member): the result is then
1-minimal for that pass. Stop rules: ``found``; ``size_limit`` (no subset of at most
K_max = min(max_size, ceil(max_fraction · N), |P|) patches meets the criterion); ``empty_pool``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.search_evaluators import ForwardEvaluator, make_evaluator

__all__ = ["BEAM_MAX_SIZE", "Criterion", "SearchConfig", "SearchResult", "is_necessary", "is_sufficient", "search_subset", "subset_numbers"]

Criterion = Literal["sufficient", "sufficient_necessary"]

_PRUNE_BATCH = 32  # pruning candidates tried per batched call on the cache

#: The beam search grows subsets one patch per step up to this size (its bookkeeping is O(K²)).
BEAM_MAX_SIZE = 256


@dataclass(frozen=True)
class SearchConfig:
    """Settings of the evidence search (defaults are decisions recorded in docs/evidence_search.md).

    Attributes
    ----------
    delta_s
        Sufficiency tolerance on Φ (probability units): Φ(X_S) ≥ Φ(X) − δs. Default 0.05, as the
        minimal-subset diagnostic (method.md §5).
    delta_n
        Necessity threshold: removal flips the class or drops Φ by at least δn. Default 0.25.
    strategy, scan, beam_width, branch
        ``greedy`` (``scan`` ``auto``: linear on the cache, gallop with real forwards) or ``beam``
        (``beam_width`` states, ``branch`` candidates per state).
    prune
        One backward elimination pass after the search.
    max_size, max_fraction
        K_max = min(max_size, ceil(max_fraction · N), |pool|) patches.
    k_max
        At most this many evidence sets (:mod:`core.diagnostics.evidence_sets`).
    path
        ``auto`` (cache where the host pools by attention, else forwards), ``cache`` or ``forward``.
    """

    delta_s: float = 0.05
    delta_n: float = 0.25
    strategy: Literal["greedy", "beam"] = "greedy"
    scan: Literal["auto", "linear", "gallop"] = "auto"
    beam_width: int = 4
    branch: int = 8
    prune: bool = True
    max_size: int | None = None
    max_fraction: float = 0.5
    k_max: int = 8
    path: Literal["auto", "cache", "forward"] = "auto"

    def __post_init__(self) -> None:
        checks = [(0.0 <= self.delta_s <= 1.0, f"delta_s must lie in [0, 1], got {self.delta_s}"),
                  (0.0 < self.delta_n <= 1.0, f"delta_n must lie in (0, 1], got {self.delta_n}"),
                  (self.strategy in ("greedy", "beam"), f"unknown strategy {self.strategy!r}"),
                  (self.scan in ("auto", "linear", "gallop"), f"unknown scan {self.scan!r}"),
                  (self.path in ("auto", "cache", "forward"), f"unknown path {self.path!r}"),
                  (self.beam_width >= 1 and self.branch >= 1, "beam_width and branch must be ≥ 1"),
                  (self.max_size is None or self.max_size >= 1, f"max_size must be ≥ 1, got {self.max_size}"),
                  (0.0 < self.max_fraction <= 1.0, f"max_fraction must lie in (0, 1], got {self.max_fraction}"),
                  (self.k_max >= 1, f"k_max must be ≥ 1, got {self.k_max}")]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def as_attrs(self) -> dict[str, str | float | int]:
        """The settings as flat HDF5-friendly attributes (``search_*``)."""
        return {"search_delta_s": self.delta_s, "search_delta_n": self.delta_n, "search_strategy": self.strategy,
                "search_scan": self.scan, "search_beam_width": self.beam_width, "search_branch": self.branch,
                "search_prune": int(self.prune), "search_max_size": -1 if self.max_size is None else self.max_size,
                "search_max_fraction": self.max_fraction, "search_k_max": self.k_max}


class SearchResult(NamedTuple):
    """One searched subset.

    ``indices`` (K,) int64 sorted patch indices (empty unless ``found``); ``stop_reason``
    (``found``, ``size_limit``, ``empty_pool``); Φ(X), Φ(X_S), Φ(X_¬S) (NaN when not found);
    whether S is sufficient / necessary; ``n_evaluations`` bag predictions made; ``path``
    (``cache`` or ``forward``).
    """

    indices: np.ndarray
    found: bool
    stop_reason: str
    phi_full: float
    phi_keep: float
    phi_remove: float
    sufficient: bool
    necessary: bool
    n_evaluations: int
    path: str


def is_sufficient(engine: InterventionEngine, keep: np.ndarray, config: SearchConfig) -> np.ndarray:
    """(B, C) keep-only outputs -> (B,) bool: predicts the full bag's class and Φ(X_S) ≥ Φ(X) − δs."""
    return (engine.phi_drop(keep) <= config.delta_s) & engine.preserves_prediction(keep)


def is_necessary(engine: InterventionEngine, remove: np.ndarray, config: SearchConfig) -> np.ndarray:
    """(B, C) removal outputs -> (B,) bool: another class, or Φ(X) − Φ(X_¬S) ≥ δn."""
    return (engine.phi_drop(remove) >= config.delta_n) | ~engine.preserves_prediction(remove)


def _ok(engine, keep, rm, config, criterion) -> np.ndarray:
    suff = is_sufficient(engine, keep, config)
    return suff if criterion == "sufficient" else suff & is_necessary(engine, rm, config)


def _ranking(guide: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Pool patches by decreasing guide score (ties: lower index first)."""
    g = np.nan_to_num(np.asarray(guide, dtype=np.float64)[pool], nan=-np.inf)
    return pool[np.lexsort((pool, -g))]


def _greedy(engine, ev, order, k_max, config, criterion) -> int | None:
    """The smallest passing prefix length (None: none up to k_max)."""
    need_rm = criterion == "sufficient_necessary"
    scan = config.scan if config.scan != "auto" else ("linear" if ev.kind == "cache" else "gallop")
    if scan == "linear":
        lo = 0
        while lo < k_max:  # cache: growing blocks of prefixes, stop at the first block with a passing one
            hi = min(k_max, max(lo + 64, 2 * lo) if ev.kind == "cache" else lo + 1)
            keep, rm = ev.prefixes(order, lo, hi, removal=need_rm)
            hit = np.flatnonzero(_ok(engine, keep, rm, config, criterion))
            if hit.size:
                return lo + 1 + int(hit[0])
            lo = hi
        return None

    def passes(k: int) -> bool:
        keep, rm = ev.prefixes(order, k - 1, k, removal=need_rm)
        return bool(_ok(engine, keep, rm, config, criterion)[0])

    bad, k = 0, 1
    while not passes(k):
        if k >= k_max:
            return None
        bad, k = k, min(k_max, 2 * k)
    good = k
    while good - bad > 1:
        mid = (good + bad) // 2
        bad, good = (bad, mid) if passes(mid) else (mid, good)
    return good


def _beam(engine, ev, order, k_max, config, criterion) -> np.ndarray | None:
    need_rm = criterion == "sufficient_necessary"
    states = [ev.start(np.zeros(0, dtype=np.int64))]
    for _ in range(min(k_max, BEAM_MAX_SIZE, order.size)):
        pairs, seen = [], set()
        for st in states:
            members = ev.members(st)
            taken = set(members.tolist())
            cands = [int(i) for i in order[: config.branch + members.size] if int(i) not in taken][: config.branch]
            for c in cands:
                key = frozenset(taken | {c})
                if key not in seen:
                    seen.add(key)
                    pairs.append((st, c))
        if not pairs:
            return None
        keep, rm, children = ev.grow(pairs, removal=need_rm)
        ok = _ok(engine, keep, rm, config, criterion)
        # higher is better: Φ(X_S) − Φ(X_¬S) (regression: −|ΔΦ keep| + |ΔΦ removal|)
        score = -engine.phi_drop(keep) + (engine.phi_drop(rm) if need_rm else 0.0)
        if ok.any():
            best = max(np.flatnonzero(ok), key=lambda i: (score[i], -i))
            return np.sort(ev.members(children[best]))
        top = sorted(range(len(children)), key=lambda i: (-score[i], i))[: config.beam_width]
        states = [children[i] for i in top]
    return None


def _prune(engine, ev, subset: np.ndarray, rank_of: np.ndarray, config, criterion) -> np.ndarray:
    """One backward pass: drop each member (least-ranked first) while the rest meets the criterion.

    On the cache, batches of up to 32 candidates give the same decisions in fewer calls: cumulative
    drops S − {c_1..c_t} (t = 1..32) find a run of dropped members, single drops S − {c_j} a run
    of kept ones -- about two batched calls per alternation between dropping and keeping."""
    need_rm = criterion == "sufficient_necessary"
    state = ev.start(subset)
    todo = np.asarray(sorted(subset.tolist(), key=lambda j: -rank_of[j]), dtype=np.int64)
    if ev.kind == "cache":
        while todo.size and ev.members(state).size > 1:
            # a run of drops: the one-at-a-time pass drops c_1..c_t as long as S − {c_1..c_t} passes
            batch = todo[: min(_PRUNE_BATCH, ev.members(state).size - 1)]
            keep, rm = ev.without_cumulative(state, batch, removal=need_rm)
            fail = np.flatnonzero(~_ok(engine, keep, rm, config, criterion))
            run = int(fail[0]) if fail.size else batch.size
            if run:
                state = ev.drop(state, batch[:run])
            todo = todo[run:]
            if not fail.size or not todo.size:
                continue
            # a run of keeps: c_{t+1}, ... stay while removing each alone (from the current S) fails
            batch = todo[:_PRUNE_BATCH]
            keep, rm = ev.without_each(state, batch, removal=need_rm)
            hit = np.flatnonzero(_ok(engine, keep, rm, config, criterion))
            if hit.size:
                state = ev.drop(state, int(batch[hit[0]]))
            todo = todo[(hit[0] if hit.size else batch.size - 1) + 1:]
        return np.sort(ev.members(state))
    for i in todo.tolist():
        if ev.members(state).size <= 1:
            break
        keep, rm, trial = ev.without(state, i, removal=need_rm)
        if _ok(engine, keep, rm, config, criterion)[0]:
            state = trial
    return np.sort(ev.members(state))


def subset_numbers(engine: InterventionEngine, ev: ForwardEvaluator, indices: np.ndarray,
                   config: SearchConfig) -> tuple[float, float, bool, bool]:
    """Φ(X_S), Φ(X_¬S), sufficient, necessary for one subset (one keep-only + one removal)."""
    keep, rm = ev.sets([np.asarray(indices, dtype=np.int64)])
    return (float(engine._phi(keep)[0]), float(engine._phi(rm)[0]), bool(is_sufficient(engine, keep, config)[0]),
            bool(is_necessary(engine, rm, config)[0]))


def search_subset(engine: InterventionEngine, guide, config: SearchConfig = SearchConfig(), *,
                  criterion: Criterion = "sufficient_necessary", pool=None,
                  evaluator: ForwardEvaluator | None = None) -> SearchResult:
    """The smallest subset of ``pool`` meeting ``criterion`` (module docstring: order, stop rule, cost).

    Parameters
    ----------
    engine
        The bag's :class:`InterventionEngine` (fixes Φ, the predicted class and the gates).
    guide
        (N,) float per-patch map, higher = more evidence for the predicted class; NaN ranks last.
    pool
        (P,) int patch indices to choose from (default: every patch).
    evaluator
        Reuse an evaluator (its ``n_evaluations`` keeps counting); default ``make_evaluator(engine, config.path)``.
    """
    ev = evaluator or make_evaluator(engine, config.path)
    start = ev.n_evaluations
    g = np.asarray(guide, dtype=np.float64).reshape(-1)
    if g.shape[0] != engine.n:
        raise ValueError(f"guide map has {g.shape[0]} values, the bag has {engine.n} patches")
    pool = np.arange(engine.n) if pool is None else np.unique(np.asarray(pool, dtype=np.int64))
    nan = float("nan")
    if pool.size == 0:
        return SearchResult(np.zeros(0, np.int64), False, "empty_pool", engine.phi_before, nan, nan, False, False, 0, ev.kind)
    order = _ranking(g, pool)
    cap = math.ceil(config.max_fraction * engine.n)
    k_max = min(order.size, cap, config.max_size or order.size)
    if config.strategy == "greedy":
        k = _greedy(engine, ev, order, k_max, config, criterion)
        subset = None if k is None else np.sort(order[:k])
    else:
        subset = _beam(engine, ev, order, k_max, config, criterion)
    if subset is None:
        return SearchResult(np.zeros(0, np.int64), False, "size_limit", engine.phi_before, nan, nan, False, False,
                            ev.n_evaluations - start, ev.kind)
    if config.prune and subset.size > 1:
        rank = np.empty(engine.n, dtype=np.int64)
        rank[order] = np.arange(order.size)
        subset = _prune(engine, ev, subset, rank, config, criterion)
    phi_keep, phi_rm, suff, nec = subset_numbers(engine, ev, subset, config)
    return SearchResult(subset.astype(np.int64), True, "found", engine.phi_before, phi_keep, phi_rm, suff, nec,
                        ev.n_evaluations - start, ev.kind)
