"""Evidence sets: disjoint sufficient subsets of one bag, found recursively (docs/evidence_search.md).

With the pool R_1 = the whole bag: S_j = the smallest sufficient subset of R_j found by
:func:`search_subset` (:mod:`core.diagnostics.evidence_search`: same guide map, ranking and
settings); stop (``no_sufficient_subset``) when that search finds none within K_max patches;
R_{j+1} = R_j \\ S_j; at most ``k_max`` sets (stop ``k_max``), or ``empty_pool``. "No sufficient
subset remains" is judged by the search, not by keeping all of R_j: a rest that is not sufficient as a
whole (diluted by patches of other classes) can still hold a sufficient subset. Each set is sufficient on its own, so a slide with ≥ 2 sets holds independent
pieces of evidence (the GCE paper's minimal-subset diagnostic, method.md §5). Per set j::

    keep_only_drop            Φ(X) − Φ(X_{S_j})                    (S; ≤ δs by construction)
    complement_degradation    Φ(X) − Φ(X \\ S_j)                    (N of the set alone)
    remove_union_degradation  Φ(X) − Φ(X \\ (S_1 ∪ … ∪ S_j))       (N of the first j sets together)

Cost: per set one search (O(K_max · H) on the cache) and two removals; a 10k-patch bag takes milliseconds on the cache (``evident bench explain``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from core.diagnostics.evidence_search import SearchConfig, SearchResult, is_necessary, search_subset
from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.search_evaluators import ForwardEvaluator, make_evaluator
from core.evidence.evidence_file import Subset

__all__ = ["EvidenceSet", "EvidenceSets", "SET_PREFIX", "evidence_sets", "evidence_subsets", "with_search_results"]

SET_PREFIX = "evidence_set_"


class EvidenceSet(NamedTuple):
    """One evidence set: (K,) int64 sorted ``indices`` and its numbers (module docstring)."""

    indices: np.ndarray
    phi_keep: float
    phi_complement: float
    phi_remove_union: float
    keep_only_drop: float
    complement_degradation: float
    remove_union_degradation: float
    necessary_alone: bool


class EvidenceSets(NamedTuple):
    """All evidence sets of one bag, the stop reason, Φ(X), the bag predictions made and the path."""

    sets: tuple[EvidenceSet, ...]
    stop_reason: str
    phi_full: float
    n_evaluations: int
    path: str

    @property
    def sizes(self) -> list[int]:
        """|S_j| for every set."""
        return [int(s.indices.size) for s in self.sets]


def evidence_sets(engine: InterventionEngine, guide, config: SearchConfig = SearchConfig(), *,
                  evaluator: ForwardEvaluator | None = None) -> EvidenceSets:
    """Disjoint sufficient subsets of the engine's bag, guided by ``guide`` ((N,) float, higher = more evidence).

    ``evaluator``: reuse one (e.g. the one a :func:`search_subset` call on the same engine used);
    ``n_evaluations`` then counts from its current value."""
    ev = evaluator or make_evaluator(engine, config.path)
    start = ev.n_evaluations
    pool = np.arange(engine.n)
    found: list[SearchResult] = []
    reason = "k_max"
    while len(found) < config.k_max:
        if pool.size == 0:
            reason = "empty_pool"
            break
        res = search_subset(engine, guide, config, criterion="sufficient", pool=pool, evaluator=ev)
        if not res.found:
            reason = "no_sufficient_subset"
            break
        found.append(res)
        pool = np.setdiff1d(pool, res.indices)
    sets = []
    if found:
        unions = [np.concatenate([r.indices for r in found[: j + 1]]) for j in range(len(found))]
        _, alone = ev.sets([r.indices for r in found])
        _, union = ev.sets(unions)
        nec = is_necessary(engine, alone, config)
        for j, r in enumerate(found):
            pa, pu = float(engine._phi(alone[j:j + 1])[0]), float(engine._phi(union[j:j + 1])[0])
            d_keep, d_alone, d_union = engine.drop_of_phi([r.phi_keep, pa, pu])  # Φ(X) − Φ (regression: |…|)
            sets.append(EvidenceSet(r.indices, r.phi_keep, pa, pu, float(d_keep), float(d_alone), float(d_union),
                                    bool(nec[j])))
    return EvidenceSets(tuple(sets), reason, engine.phi_before, ev.n_evaluations - start, ev.kind)


def evidence_subsets(result: EvidenceSets, sn: SearchResult | None, config: SearchConfig, guide_name: str):
    """Evidence-file entries: ``({name: Subset}, {name: S/N numbers})`` for ``evidence_set_1..k`` and,
    when found, ``sufficient_necessary`` (layout: :mod:`core.evidence.evidence_file`)."""
    n_sets = len(result.sets)
    common = {**config.as_attrs(), "search_guide": guide_name, "search_path": result.path}
    subsets, numbers = {}, {}
    for j, s in enumerate(result.sets, 1):
        name = f"{SET_PREFIX}{j}"
        subsets[name] = Subset(s.indices, "sufficient", attrs={**common, "set_index": j, "n_sets": n_sets,
                                                                 "sets_stop_reason": result.stop_reason})
        numbers[name] = {"phi_full": result.phi_full, "phi_keep": s.phi_keep, "phi_complement": s.phi_complement,
                         "keep_only_drop": s.keep_only_drop, "complement_degradation": s.complement_degradation,
                         "remove_union_degradation": s.remove_union_degradation, "n_patches": float(s.indices.size)}
    if sn is not None and sn.found:
        subsets["sufficient_necessary"] = Subset(sn.indices, sn.stop_reason, attrs=common)
        numbers["sufficient_necessary"] = {"phi_full": sn.phi_full, "phi_keep": sn.phi_keep,
                                           "phi_complement": sn.phi_remove, "keep_only_drop": sn.phi_full - sn.phi_keep,
                                           "complement_degradation": sn.phi_full - sn.phi_remove,
                                           "n_patches": float(sn.indices.size)}
    return subsets, numbers


def with_search_results(ev, subsets: dict, numbers: dict):
    """``ev`` (an :class:`core.evidence.evidence_file.Evidence`) with ``subsets``/``numbers`` from
    :func:`evidence_subsets`; earlier ``evidence_set_*`` and ``sufficient_necessary`` entries are dropped."""
    def stale(name: str) -> bool:
        return name.startswith(SET_PREFIX) or name == "sufficient_necessary"

    keep_sub = {k: v for k, v in ev.subsets.items() if not stale(k)}
    keep_snr = {k: v for k, v in ev.snr.items() if not stale(k)}
    return replace(ev, subsets={**keep_sub, **subsets}, snr={**keep_snr, **numbers})
