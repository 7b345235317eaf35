"""Diagnose GCE-MIL on digit bags: ``python -m core.train.gce_diagnosis`` (docs/results_gce.md, Diagnosis).

Small, CPU-cheap runs (ABMIL, reduced digit set, few folds) of the spec default beside options of
:class:`core.models.gce_config.GCEConfig`. Per variant and held-out fold it reports the benchmark
numbers of :func:`core.train.gce_benchmark.evaluate_fold` and the quantities behind the failure:

* ``gate/nine``, ``gate/other_pos``, ``gate/neg``: mean gate on 9s, on other digits of positive bags,
  and on negative bags (held-out fold, whole bags);
* ``gate/nine_above_tau``, ``gate/other_above_tau``: fraction of those gates ≥ τ;
* ``alpha/l1_diff``: Σ_m |α_1m − α_0m| / Σ_m α_1m (0: the classes weight the anchors alike);
* ``target/nine``, ``target/other``: mean alignment target t_i of class 1 on 9s and on other digits.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from core.anchors import prototype_anchors
from core.atomic import atomic_write_json
from core.data.digits import make_digit_bags
from core.data.mil_csv import synthetic_grid_coords
from core.models.base import HostConfig
from core.models.gce import GCEConfig, build_gce
from core.models.input_norm import fit_all_input_norms
from core.models.losses import task_loss
from core.models.registry import build_host
from core.train.gce_benchmark import (
    Bag,
    benchmark_folds,
    evaluate_fold,
    exemplar_bank,
    fold_mean_std,
    train_fixed_epochs,
)

__all__ = ["VARIANTS", "digit_subset", "main", "run_variant"]

VARIANTS: dict[str, dict | None] = {
    "host": None,  # ABMIL alone (no GCE): the accuracy spread and attention top-5% to compare with
    "default": {},
    "no-grounding": {"ablation": "recovery"},
    "ground-positive": {"ground_on": "positive"},
    "hinge-budget": {"budget_form": "hinge"},
    "budget-x10": {"lambda_budget": 1.0},
    "ground-positive+hinge": {"ground_on": "positive", "budget_form": "hinge"},
    "quantile-nu": {"nu_mode": "quantile"},
    "quantile-nu+ground-positive": {"nu_mode": "quantile", "ground_on": "positive"},
    "quantile-nu+no-grounding": {"nu_mode": "quantile", "ablation": "recovery"},
    "contrastive": {"coverage_loss": "contrastive"},
    "contrastive+ground-positive": {"coverage_loss": "contrastive", "ground_on": "positive"},
    "recovery-loss": {"recovery_weight": 1.0},
    "recovery-loss+contrastive": {"recovery_weight": 1.0, "coverage_loss": "contrastive"},
    "recovery-loss+ground-positive": {"recovery_weight": 1.0, "ground_on": "positive"},
    "recovery-loss-x2+contrastive": {"recovery_weight": 2.0, "coverage_loss": "contrastive"},
    "recovery-loss+contrastive+hinge": {"recovery_weight": 1.0, "coverage_loss": "contrastive", "budget_form": "hinge"},
}


def digit_subset(n_bags: int = 60, n_folds: int = 3, seed: int = 0):
    """``n_bags`` digit bags as :class:`core.train.gce_benchmark.Bag` with ``n_folds`` folds."""
    return [Bag(b.slide_id, b.features, synthetic_grid_coords(b.features.shape[0], 8)[0], b.label, b.evidence, b.fold, b.digits)
            for b in make_digit_bags(n_bags, n_folds=n_folds, seed=seed)]


@torch.no_grad()
def _gate_stats(model, bags) -> dict:
    nine, other, neg, t_nine, t_other = [], [], [], [], []
    alpha = model.class_weights()  # (2, M)
    a1 = alpha[1] / alpha[1].sum()
    for b in bags:
        out = model(torch.from_numpy(b.features), torch.from_numpy(b.coords))
        g = out.gates.numpy()
        t = (out.responses @ a1).numpy()
        if b.label == 0:
            neg.append(g)
            continue
        is9 = np.zeros(g.size, bool)
        is9[b.truth] = True
        nine.append(g[is9])
        other.append(g[~is9])
        t_nine.append(t[is9])
        t_other.append(t[~is9])

    def cat(parts: list) -> np.ndarray:  # empty fold side -> NaN statistics
        return np.concatenate(parts) if parts else np.array([np.nan])

    tau = model.config.threshold
    return {
        "gate/nine": float(cat(nine).mean()), "gate/other_pos": float(cat(other).mean()),
        "gate/neg": float(cat(neg).mean()),
        "gate/nine_above_tau": float((cat(nine) >= tau).mean()), "gate/other_above_tau": float((cat(other) >= tau).mean()),
        "alpha/l1_diff": float((alpha[1] - alpha[0]).abs().sum() / alpha[1].sum()),
        "target/nine": float(cat(t_nine).mean()), "target/other": float(cat(t_other).mean()),
    }


def run_variant(bags, options: dict, *, epochs: int = 20, lr: float = 1e-3, seed: int = 0,
                anchors: str = "prototypes") -> list[dict]:
    """Train ABMIL + GCE (``options`` over the paper's GCEConfig) per fold; one metrics dict per fold."""
    d = bags[0].features.shape[1]
    res = []
    for fold in sorted({b.fold for b in bags}):
        train = [b for b in bags if b.fold != fold]
        test = [b for b in bags if b.fold == fold]
        torch.manual_seed(seed + fold)
        host = build_host("abmil", HostConfig(in_dim=d, n_outputs=2))
        feats = np.concatenate([b.features for b in train])
        fit_all_input_norms(host, torch.from_numpy(feats))
        if anchors == "exemplars":
            raw = exemplar_bank(train, seed=seed)
            emb = raw.embeddings - feats.mean(axis=0)
        else:
            emb = prototype_anchors(feats, 8, seed=seed, center=True).embeddings
        model = build_gce(host, emb, GCEConfig(**options), feature_mean=feats.mean(axis=0))
        train_fixed_epochs(model, model.objective("classification", task_loss), train, epochs=epochs, lr=lr, seed=seed + fold)
        r = evaluate_fold(model, test, gce=True)
        r.update(_gate_stats(model, test))
        r["fold"] = fold
        res.append(r)
    return res


KEYS = ["accuracy", "gce/precision", "gce/recall", "gce/cd_gap", "gce/complement_degradation", "gce/evidence_fraction",
        "attention_matched/complement_degradation", "attention/complement_degradation", "gate/nine", "gate/other_pos",
        "gate/neg", "gate/nine_above_tau", "gate/other_above_tau", "alpha/l1_diff", "target/nine", "target/other"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=[v for v in VARIANTS if v != "host"], choices=list(VARIANTS))
    p.add_argument("--bags", type=int, default=60)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--anchors", default="prototypes", choices=["prototypes", "exemplars"])
    p.add_argument("--json", default=None, help="write per-fold results here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    bags = digit_subset(args.bags, args.folds)

    allres = {}
    print("| variant | " + " | ".join(KEYS) + " | s |")
    print("|---" * (len(KEYS) + 2) + "|")
    for name in args.variants:
        t0 = time.perf_counter()
        if VARIANTS[name] is None:
            folds = benchmark_folds(bags, "abmil", gce=False, build_host=build_host, task_loss=task_loss, epochs=args.epochs,
                           lr=args.lr)
        else:
            folds = run_variant(bags, VARIANTS[name], epochs=args.epochs, lr=args.lr, anchors=args.anchors)
        allres[name] = folds
        s = fold_mean_std(folds)
        cells = [f"{s[k][0]:.3f} ± {s[k][1]:.3f}" if k in s else "–" for k in KEYS]
        print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.0f} |", flush=True)
    if args.json:
        atomic_write_json(args.json, allres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
