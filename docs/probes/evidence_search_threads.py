"""Search + evidence sets on a 10k-patch bag (bench model, D=512, H=256), 1 vs 2 torch threads, in one process."""
import time

import numpy as np
import torch

from core.bench.explain import _bag, _model
from core.diagnostics.evidence_search import SearchConfig, search_subset
from core.diagnostics.evidence_sets import evidence_sets
from core.diagnostics.interventions import InterventionEngine
from core.diagnostics.search_evaluators import make_evaluator

for name, g in [("abmil", True), ("clam_sb", False)]:
    m = _model(name, g); x, c = _bag(10000)
    eng = InterventionEngine(m, x, c)
    guide = eng.keep_only(np.arange(eng.n)).attention_after
    cfg = SearchConfig(scan="linear")
    for th in [2, 1, 2, 1]:
        torch.set_num_threads(th)
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter(); ev = make_evaluator(eng)
            r = search_subset(eng, guide, cfg, evaluator=ev); s = evidence_sets(eng, guide, cfg, evaluator=ev)
            best = min(best, time.perf_counter() - t0)
        print(name, "gce" if g else "", "threads", th, f"best of 3: {best:.3f} s", s.sizes, s.stop_reason, r.stop_reason)
