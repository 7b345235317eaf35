"""Probe (not part of the product): alternative repair stop rules on trained GCE models.

Quoted in docs/results_gce.md ("GCE against the host alone's attention at GCE's k", last paragraph).
Per fold of the digit benchmark (ABMIL, options coverage_loss=contrastive, recovery_weight=1) it
trains the host alone and host + GCE, then scores on the held-out bags: gce_all (the spec's repair
over every reachable anchor), gce_class (stop test over the anchors whose predicted-class weight is
at least the mean), gce_thr (threshold set alone), attention top-k of the wrapped model and of the
host alone at those k, and the host alone's top-5%. One JSON line per fold on stdout.

    python docs/probes/repair_class_anchors.py SEED {exemplars|prototypes} [HOST] > probe.jsonl
"""
import json
import sys

import numpy as np
import torch

from core.diagnostics.cohort_snr import cohort_snr, evidence_precision_recall, slide_outputs
from core.evidence.recovery import recover
from core.models.losses import task_loss
from core.models.registry import build_host
from core.models.subset_rules import attention_topk, topk_count
from core.train.gce_benchmark import fold_model, load_dataset, train_fixed_epochs

torch.set_num_threads(1)
seed = int(sys.argv[1]); anchors = sys.argv[2]; hostname = sys.argv[3] if len(sys.argv) > 3 else "abmil"
opts = dict(coverage_loss="contrastive", recovery_weight=1.0)
bags = load_dataset("digits", seed=seed)
for fold in sorted({b.fold for b in bags}):
    train = [b for b in bags if b.fold != fold]; test = [b for b in bags if b.fold == fold]
    models = {}
    for gce in (False, True):
        torch.manual_seed(seed + fold)
        model, obj = fold_model(train, hostname, gce=gce, build_host=build_host, task_loss=task_loss,
                                anchors=anchors, seed=seed, gce_config=opts)
        train_fixed_epochs(model, obj, train, epochs=30, lr=1e-3, seed=seed + fold)
        model.eval()
        models[gce] = model
    g, h = models[True], models[False]
    rows = {}; pr = {}; ys = []
    with torch.no_grad():
        for b in test:
            x, c = torch.from_numpy(b.features), torch.from_numpy(b.coords)
            o = g(x, c)
            gates = o.gates.double().numpy(); resp = o.responses.double().numpy()
            a = g.predicted_class_weights(o)
            a = np.asarray(a, dtype=np.float64)
            subs = {}
            subs["gce_all"] = recover(gates, resp, a).indices
            # class anchors: stop test only over anchors with alpha >= mean alpha (emulated via responses masking in stop only)
            mask = a >= a.mean()
            rec = recover(gates, resp[:, mask], a[mask]).indices
            subs["gce_class"] = rec
            thr = np.flatnonzero(gates > 0.5)
            subs["gce_thr"] = thr if thr.size else np.array([int(np.argmax(gates))])
            k = subs["gce_all"].size
            subs["att_wrapped_k"] = attention_topk(g, x, c, k)
            subs["att_host_k"] = attention_topk(h, x, c, k)
            subs["att_host_kclass"] = attention_topk(h, x, c, subs["gce_class"].size)
            subs["att_host_5"] = attention_topk(h, x, c, topk_count(x.shape[0], 0.05))
            ys.append(b.label)
            for r, idx in subs.items():
                m = h if r.startswith("att_host") else g
                rows.setdefault(r, []).append(slide_outputs(m, x, c, idx))
                if b.truth is not None and b.truth.size:
                    pr.setdefault(r, []).append(evidence_precision_recall(idx, b.truth))
    res = {"fold": fold}
    for r, rr in rows.items():
        s = cohort_snr(rr, "classification", labels=np.array(ys))
        res[r] = {k: s[k] for k in ("cd_gap", "complement_degradation", "evidence_sufficiency", "evidence_fraction")}
        res[r]["prec"] = float(np.mean([p for p, _ in pr[r]])); res[r]["rec"] = float(np.mean([q for _, q in pr[r]]))
    print(json.dumps(res), flush=True)
