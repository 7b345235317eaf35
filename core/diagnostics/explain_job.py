"""``evident explain`` as a per-slide job of :mod:`core.schedule` (docs/scheduler.md): the model and its
explainers are built once per worker; each slide's maps (and, when asked, its evidence sets,
docs/evidence_search.md) are merged into ``OUT/<slide_id>.evidence.h5``."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ExplainJob"]


@dataclass(frozen=True)
class ExplainJob:
    """``methods``: canonical method names; ``options``: ``((method, ((key, value), ...)), ...)`` for
    :func:`core.explain.registry.build_explainer`; ``search``: a
    :class:`core.diagnostics.evidence_search.SearchConfig` or ``None``; ``guide``: the map that
    guides the search; ``bags``: slide id -> feature file (not in the repr)."""

    model: str
    device: str
    methods: tuple
    target: int | None
    options: tuple
    search: object = None
    guide: str = ""
    bags: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return "explain"

    def setup(self):
        """``(model on its device, config, device, {method: explainer}, guide explainer or None)``."""
        from core.device import pick_device  # local: torch only in the worker
        from core.explain.registry import build_explainer
        from core.models.checkpoint import load_checkpoint

        device = pick_device(self.device)
        model, config = load_checkpoint(Path(self.model))
        model = model.to(device).eval()
        options = {m: dict(kv) for m, kv in self.options}
        explainers = {m: build_explainer(m, model, device=device, **options.get(m, {})) for m in self.methods}
        guide_ex = None
        if self.search is not None:
            guide_ex = explainers.get(self.guide) or build_explainer(self.guide, model, device=device,
                                                                      **options.get(self.guide, {}))
        return model, config, device, explainers, guide_ex

    def input_key(self, slide_id: str) -> str:
        """The feature file's and the model checkpoint's path, size and mtime
        (:func:`core.schedule.job.stat_key`): re-extracted features or a retrained model under the
        same name redo the slide (docs/scheduler.md)."""
        from core.schedule.job import stat_key  # local: keeps this module light

        return stat_key(self.bags[slide_id], self.model)

    def run(self, state, slide_id: str, out_dir: Path) -> None:
        import numpy as np  # local: only in the worker
        import torch

        from core.data.bags import read_bag
        from core.evidence.evidence_file import Evidence, merge_into_file
        from core.models.access import host_of

        model, config, device, explainers, guide_ex = state
        host = host_of(model)
        task = str(config.get("task", host.config.task))
        classes = tuple(str(c) for c in config.get("classes", ()))
        bag = read_bag(self.bags[slide_id], feature_dim=int(host.config.in_dim))
        ev_path = Path(out_dir) / f"{bag.slide_id}.evidence.h5"
        t0 = time.perf_counter()
        scores = {m: ex.attribute(bag.features, bag.coords, target=self.target) for m, ex in explainers.items()}
        with torch.no_grad():
            ctx = explainers[self.methods[0]].prepare(bag.features, bag.coords, self.target)
        raw = ctx.output.cpu().double().numpy()
        if task == "classification":
            pred = {"probs": torch.softmax(ctx.output, 0).cpu().numpy(), "predicted_class": int(np.argmax(raw))}
        else:  # survival: the risk; regression: the output in target-SD units and the value in target units
            pred = {"risk": raw.astype(np.float32), "predicted_class": -1}
            if task == "regression":
                from core.models.target_scale import TargetScale, target_scale_of

                pred["value"] = (target_scale_of(config) or TargetScale()).to_value(raw[:1])
        ev = Evidence(slide_id=bag.slide_id, coords=bag.coords, task=task, classes=classes, scores=scores,
                      model=self.model, **pred)
        note = ""
        if self.search is not None:
            g_map = (scores[self.guide] if self.guide in scores and self.target is None
                     else guide_ex.attribute(bag.features, bag.coords))
            ev, note = _search(model, bag, g_map, self.guide, self.search, device, ev)
        # keeps what recover (or an earlier explain) wrote there; a new search replaces the old sets
        merge_into_file(ev_path, ev, replace_prefixes=("evidence_set_",) if self.search is not None else ())
        print(f"{bag.slide_id}: {len(self.methods)} method(s), {bag.features.shape[0]} patches, "
              f"{time.perf_counter() - t0:.1f} s{note} -> {ev_path}", file=sys.stderr, flush=True)


def _search(model, bag, guide_map, guide: str, config, device, ev):
    """Evidence ``ev`` with the slide's sufficient-and-necessary subset and evidence sets; and a log note."""
    from core.diagnostics.evidence_search import search_subset
    from core.diagnostics.evidence_sets import evidence_sets, evidence_subsets, with_search_results
    from core.diagnostics.interventions import InterventionEngine
    from core.diagnostics.search_evaluators import make_evaluator

    eng = InterventionEngine(model, bag.features, bag.coords, device=device)
    evaluator = make_evaluator(eng, config.path)
    sn = search_subset(eng, guide_map, config, evaluator=evaluator)
    sets = evidence_sets(eng, guide_map, config, evaluator=evaluator)
    subsets, numbers = evidence_subsets(sets, sn, config, guide)
    sn_text = f"{sn.indices.size} patches" if sn.found else f"none ({sn.stop_reason})"
    note = (f", {len(sets.sets)} evidence set(s) of {'/'.join(map(str, sets.sizes)) or '-'} patches "
            f"(stop: {sets.stop_reason}), sufficient+necessary: {sn_text}")
    return with_search_results(ev, subsets, numbers), note
