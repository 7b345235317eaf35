"""Benchmark where attention is poor evidence, with the truth known: ``python -m core.train.attention_failure_bench --out OUT [--quick] [--source digits|tissue]``.

Scenarios (``--source digits``, :mod:`core.train.attention_failure_data`): ``redundant`` (3–6 nines per
positive bag, each sufficient alone), ``conjunctive`` (a 3 AND a 7), ``shortcut`` (pen marks go with
the label in training, not in testing). ``--source tissue``: the same three from real CMU-1 skin
tissue encoded by the demo's encoder (:mod:`core.train.attention_failure_tissue`: 3–5 separate
epidermis regions; epidermis AND loose tissue; pen/fold/blur artefacts made from real dermis; the
artifact score is the audit's own ``1 − tissue fraction``). Per scenario, seed and host (ABMIL, CLAM-SB) it trains the
host alone and host + GCE with cross-validation (the trainer and fold models of
:mod:`core.train.gce_benchmark`, one bag per step, lr 1e-3; defaults 60 bags of 16–32 instances,
3 folds, 20 epochs, sized for a shared 2-core CPU), then scores every held-out
bag with every rule:

* top-k maps at k = ceil(5 % N): ``attention``, ``ig``, ``single``, ``leave_one_out``, ``lrp``,
  ``random`` (seed 42), and for GCE ``gce_gate``;
* ``gce`` (the recovered subset, GCE only);
* ``search_sn``: the intervention search's smallest sufficient-and-necessary subset
  (:func:`core.diagnostics.evidence_search.search_subset`, guide = attention, defaults δs = 0.05,
  δn = 0.25; only bags where one is found) and ``attention_at_sn``: attention top-k at that k (``found/sn_overlap``: share of S_N inside it,
  ``found/sn_identical``: share of bags where the two are the same set -- the greedy search scans
  attention's ranking, so S_N ⊆ attention's top-k' for the k' where it stopped, before pruning);
  ``n_sets``: the number of disjoint sufficient evidence sets (:mod:`core.diagnostics.evidence_sets`).

Numbers per rule (held-out fold; :func:`core.diagnostics.snr.cohort_table`, Φ = probability of the
predicted class, M = accuracy): precision / recall against the truth over positive bags, keep-only
drop, complement degradation (M and Φ), C-D gap (GCE), evidence fraction; chance precision = mean
|T|/N (a random subset's expected precision). ``found/<rule>/...``: the same numbers on the bags where
``search_sn`` was found (the paired comparison of the goal). Conjunctive: ``both`` = share of
positive bags whose subset holds a 3 and a 7. ``<rule>/regions``: share of a positive bag's separate
evidence regions the subset touches (tissue bags). Shortcut: accuracy and failure-taxonomy flags
(:func:`core.diagnostics.failures.classify_failures`, as ``evident audit`` sets them; artifact score
= saturated-pixel share for digits, the audit's ``1 − tissue fraction`` for tissue) on shortcut vs other test bags and on bags with vs without pen marks, the
``artifact_evidence`` rule applied to ``search_sn`` instead (``artifact_evidence_sn``), both rules with
an *oracle* artifact score that is 1 exactly on the artefact instances (``artifact_evidence_oracle``,
``artifact_evidence_sn_oracle``: what the rule would flag if the score saw pen, folds and blur), and
the pen-mark share of each rule's subset.

Every (scenario, host, model, seed) run is written to ``OUT/records/<name>.json`` as it finishes and
skipped when present (the command resumes); ``OUT/report.md`` holds the tables
(:mod:`core.train.attention_failure_report`).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.train.attention_failure_data import ARTEFACT, SCENARIOS, ScenarioBag, artefact_scores, make_scenario
from core.train.gce_benchmark import _auc, fold_model, train_fixed_epochs

__all__ = ["OPTIONS", "BenchSetting", "evaluate_bag", "summarise_held_out_fold", "main", "run_setting", "settings"]

OPTIONS = {"coverage_loss": "contrastive", "recovery_weight": 1}  #: the GCE options of docs/results_gce.md
MAPS = ("attention", "ig", "single", "leave_one_out", "lrp")
SOURCES = ("digits", "tissue")  #: where the bags come from (module docstring)
BUDGET = 0.05


class BenchSetting(dict):
    """One run: scenario, host, gce (bool), anchors, options (``"defaults"``/``"options"``), seed."""

    @property
    def name(self) -> str:
        model = f"gce-{self['anchors']}-{self['options']}" if self["gce"] else "host"
        return f"{self['scenario']}_{self['host']}_{model}_s{self['seed']}"


def settings(scenarios: Sequence[str], hosts: Sequence[str], seeds: Sequence[int]) -> list[BenchSetting]:
    """The run grid: every host alone; GCE with exemplar anchors and the options everywhere; on
    ``redundant`` also the C-D gap grid (prototypes/exemplars × spec defaults/options)."""
    out = []
    for sc in scenarios:
        for seed in seeds:
            for host in hosts:
                out.append(BenchSetting(scenario=sc, host=host, gce=False, anchors="", options="", seed=seed))
                grid = [("exemplars", "options")]
                if sc == "redundant":
                    grid = [(a, o) for a in ("prototypes", "exemplars") for o in ("options", "defaults")]
                out += [BenchSetting(scenario=sc, host=host, gce=True, anchors=a, options=o, seed=seed) for a, o in grid]
    return out


def _explainers(model, gce: bool) -> dict:
    from core.explain.registry import build_explainer

    names = list(MAPS) + (["gce_gate", "gce_subset"] if gce else [])
    return {m: build_explainer(m, model, **({"n_steps": 20} if m == "ig" else {})) for m in names}


def evaluate_bag(model, sb: ScenarioBag, explainers: dict, search_config=None) -> dict:
    """Every rule's subset and S/N numbers on one held-out bag.

    Returns ``{"label", "predicted", "prob", "snr": {rule: SlideSNR}, "pr": {rule: (precision,
    recall)}, "both": {rule: bool}, "artefact": {rule: share}, "chance": (|T|/N, k/N) or None,
    "n_sets", "flags": failure flags, "shortcut"}``.
    """
    from core.diagnostics.cohort_snr import evidence_precision_recall
    from core.diagnostics.evidence_search import SearchConfig, search_subset
    from core.diagnostics.evidence_sets import evidence_sets
    from core.diagnostics.failures import FailureThresholds, classify_failures
    from core.diagnostics.interventions import InterventionEngine
    from core.diagnostics.snr import slide_snr, topk_indices
    from core.models.subset_rules import random_k, topk_count

    cfg = search_config or SearchConfig()
    b = sb.bag
    eng = InterventionEngine(model, b.features, b.coords)
    gce = eng.gates is not None
    n = eng.n
    k = topk_count(n, BUDGET)
    scores = {m: ex.attribute(b.features, b.coords) for m, ex in explainers.items()}
    subsets = {"random": random_k(n, k)}
    subsets.update({m: topk_indices(s, k) for m, s in scores.items() if m != "gce_subset"})
    if gce:
        subsets["gce"] = np.flatnonzero(scores["gce_subset"] > 0.5).astype(np.int64)
    sn = search_subset(eng, scores["attention"], cfg)
    if sn.found:
        subsets["search_sn"] = sn.indices
        subsets["attention_at_sn"] = topk_indices(scores["attention"], sn.indices.size)
    snr = {r: slide_snr(eng, idx, hard=(r == "gce") if gce else False) for r, idx in subsets.items()}
    res = {"label": b.label, "predicted": eng.predicted, "prob": float(eng.probs_before[-1]), "snr": snr,
           "pr": {}, "both": {}, "chance": None, "shortcut": sb.shortcut, "sn_found": sn.found, "regions": {},
           "sn_overlap": float(np.isin(sn.indices, subsets["attention_at_sn"]).mean()) if sn.found else None,
           "sn_identical": bool(np.array_equal(np.sort(sn.indices), np.sort(subsets["attention_at_sn"])))
           if sn.found else None, "sn_size": int(sn.indices.size) if sn.found else None,
           "truth_size": 0 if b.truth is None else int(b.truth.size), "n_regions": len(sb.regions), "k": k,
           "n_sets": len(evidence_sets(eng, scores["attention"], cfg).sets) if eng.predicted == 1 else 0,
           "artefact": {r: float(np.mean(b.instance_labels[idx] == ARTEFACT)) if idx.size else 0.0
                        for r, idx in subsets.items()}}
    if b.truth is not None and b.truth.size:
        res["chance"] = (b.truth.size / n, k / n)
        for r, idx in subsets.items():
            res["pr"][r] = evidence_precision_recall(idx, b.truth)
            res["both"][r] = all(np.isin(g, idx).any() for g in sb.truth_groups)
            if sb.regions:
                res["regions"][r] = float(np.mean([np.isin(g, idx).any() for g in sb.regions]))
    main_rule = "gce" if gce else "attention"
    main = snr[main_rule]
    kw = {}
    if gce:
        with torch.no_grad():
            out = model(eng.x, eng.coords)
        kw = {"responses": out.responses.cpu().double().numpy(), "class_weights": model.predicted_class_weights(out)}
    res["marked"] = bool((b.instance_labels == ARTEFACT).any())
    art = sb.artifact_scores if sb.artifact_scores is not None else artefact_scores(b.features)
    res["flags"] = classify_failures(correct=b.label == eng.predicted, keep_only_drop=main.keep_only_drop,
                                     complement_degradation=main.complement_degradation, evidence=main.indices,
                                     artifact_scores=art, predicted=eng.predicted, n_classes=2, **kw)
    from core.diagnostics.artifacts import artifact_share

    t = FailureThresholds()  # the taxonomy's artifact rule applied to the S_N subset (as `evident audit` now does)
    res["flags"]["artifact_evidence_sn"] = bool(sn.found and artifact_share(sn.indices, art, t.min_tissue) > t.artifact_share)
    oracle = (b.instance_labels == ARTEFACT).astype(np.float64)  # an artifact score that sees every artefact
    res["flags"]["artifact_evidence_oracle"] = bool(artifact_share(main.indices, oracle, t.min_tissue) > t.artifact_share)
    res["flags"]["artifact_evidence_sn_oracle"] = bool(sn.found and artifact_share(sn.indices, oracle, t.min_tissue)
                                                       > t.artifact_share)
    return res


def _mean(values) -> float:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def summarise_held_out_fold(rows: list[dict]) -> dict:
    """Flat ``{key: float}`` of one held-out fold from :func:`evaluate_bag` rows (module docstring)."""
    from core.diagnostics.snr import cohort_table

    y = np.array([r["label"] for r in rows])
    pred = np.array([r["predicted"] for r in rows])
    out = {"accuracy": float(np.mean(y == pred)), "auc": _auc(y, np.array([r["prob"] for r in rows])),
           "n_bags": len(rows)}
    pos = [r for r in rows if r["chance"] is not None]
    out["chance/precision"] = _mean(r["chance"][0] for r in pos)
    out["chance/recall"] = _mean(r["chance"][1] for r in pos)
    out["sn_found"] = _mean(float(r["sn_found"]) for r in pos)
    out["n_sets"] = _mean(float(r["n_sets"]) for r in pos if r["predicted"] == 1)
    found = [r for r in rows if r["sn_found"]]
    out["found/sn_overlap"] = _mean(r["sn_overlap"] for r in found)
    out["found/sn_identical"] = _mean(float(r["sn_identical"]) for r in found)
    out["found/sn_size"] = _mean(float(r["sn_size"]) for r in found if r["chance"] is not None)
    out["found/truth_size"] = _mean(float(r["truth_size"]) for r in found if r["chance"] is not None)
    out["n_regions"] = _mean(float(r["n_regions"]) for r in pos)
    out["k5"] = _mean(float(r["k"]) for r in pos)
    for prefix, sel in (("", rows), ("found/", [r for r in rows if r["sn_found"]])):
        if not sel:
            continue
        table = cohort_table([r["snr"] for r in sel], "classification", labels=np.array([r["label"] for r in sel]))
        for rule, t in table.items():
            if prefix and rule not in ("search_sn", "attention_at_sn", "attention"):
                continue
            for key in ("complement_degradation", "complement_degradation_phi", "keep_only_drop", "keep_only_drop_phi",
                        "cd_gap", "evidence_fraction", "n_slides"):
                out[f"{prefix}{rule}/{key}"] = float(t[key])
            psel = [r for r in sel if rule in r["pr"]]
            out[f"{prefix}{rule}/precision"] = _mean(r["pr"][rule][0] for r in psel)
            out[f"{prefix}{rule}/recall"] = _mean(r["pr"][rule][1] for r in psel)
            if not prefix:
                out[f"{rule}/both"] = _mean(float(r["both"][rule]) for r in psel)
                out[f"{rule}/artefact"] = _mean(r["artefact"][rule] for r in sel if rule in r["artefact"])
                out[f"{rule}/regions"] = _mean(r["regions"][rule] for r in psel if rule in r["regions"])
    for group, sel in (("shortcut", [r for r in rows if r["shortcut"]]), ("other", [r for r in rows if not r["shortcut"]]),
                       ("marked", [r for r in rows if r["marked"]]), ("unmarked", [r for r in rows if not r["marked"]])):
        out[f"{group}/n"] = len(sel)
        out[f"{group}/accuracy"] = _mean(float(r["label"] == r["predicted"]) for r in sel)
        for flag in (sel[0]["flags"] if sel else {}):
            out[f"{group}/flag/{flag}"] = _mean(float(r["flags"][flag]) for r in sel)
    return out


def run_setting(s: BenchSetting, *, n_bags: int = 60, n_folds: int = 3, epochs: int = 20, lr: float = 1e-3,
                min_size: int = 16, max_size: int = 32, source: str = "digits", log=print) -> dict:
    """Train and score every fold of one setting; returns the record (setting, per-fold metrics, seconds).

    ``source``: ``"digits"`` (:func:`core.train.attention_failure_data.make_scenario`) or ``"tissue"``
    (:func:`core.train.attention_failure_tissue.make_tissue_scenario`, the cached real-tissue bank).
    """
    from core.models.losses import task_loss
    from core.models.registry import build_host

    t0 = time.perf_counter()
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (use one of {', '.join(SOURCES)})")
    make = make_scenario
    if source == "tissue":
        from core.train.attention_failure_tissue import make_tissue_scenario as make
    train_v, test_v = make(s["scenario"], n_bags, min_size=min_size, max_size=max_size, n_folds=n_folds, seed=s["seed"])
    folds = []
    for fold in range(n_folds):
        train = [sb.bag for sb in train_v if sb.bag.fold != fold]
        test = [sb for sb in test_v if sb.bag.fold == fold]
        torch.manual_seed(s["seed"] + fold)
        model, objective = fold_model(train, s["host"], gce=s["gce"], build_host=build_host, task_loss=task_loss,
                                      anchors=s["anchors"] or "prototypes", seed=s["seed"],
                                      gce_config={"ablation": "full", **(OPTIONS if s["options"] == "options" else {})})
        train_fixed_epochs(model, objective, train, epochs=epochs, lr=lr, seed=s["seed"] + fold)
        ex = _explainers(model, s["gce"])
        res = summarise_held_out_fold([evaluate_bag(model, sb, ex) for sb in test])
        res["fold"] = fold
        folds.append(res)
    rec = {"setting": dict(s), "name": s.name, "source": source, "n_bags": n_bags, "n_folds": n_folds, "epochs": epochs, "lr": lr,
           "bag_size": [min_size, max_size], "folds": folds, "seconds": round(time.perf_counter() - t0, 1)}
    log(f"{s.name}: {rec['seconds']} s")
    return rec


def _claim(lock: Path) -> bool:
    """Create ``lock`` exclusively: False when another process holds it (several commands may share OUT)."""
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    from core.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
    from core.train.attention_failure_report import load_records, markdown_report

    p = argparse.ArgumentParser(prog="python -m core.train.attention_failure_bench", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for records/*.json and report.md")
    p.add_argument("--quick", action="store_true", help="tiny smoke settings: 20 bags, 2 folds, 2 epochs, ABMIL, seed 0")
    p.add_argument("--source", choices=SOURCES, default="digits",
                   help="digit bags, or real CMU-1 tissue encoded by the demo's encoder (feature bank cached in "
                        "~/.cache/evident/attention_failure); use one OUT per source")
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    p.add_argument("--hosts", nargs="+", default=["abmil", "clam_sb"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--bags", type=int, default=60, help="bags per scenario (half positive)")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--min-size", type=int, default=16, help="fewest instances per bag (pen marks not counted)")
    p.add_argument("--max-size", type=int, default=32, help="most instances per bag (pen marks not counted)")
    p.add_argument("--only", nargs="+", default=None, metavar="GLOB",
                   help="run only the settings whose name matches one of these patterns, in this order "
                        "(names: <scenario>_<host>_<host|gce-ANCHORS-defaults|options>_s<seed>)")
    p.add_argument("--report-only", action="store_true", help="only rebuild report.md from OUT/records")
    args = p.parse_args(argv)
    out = ensure_writable_dir(args.out)
    rec_dir = ensure_writable_dir(out / "records")
    kw = {"n_bags": args.bags, "n_folds": args.folds, "epochs": args.epochs, "min_size": args.min_size,
          "max_size": args.max_size, "source": args.source}
    grid = settings(args.scenarios, args.hosts, args.seeds)
    if args.quick:
        kw = {"n_bags": 20, "n_folds": 2, "epochs": 2, "min_size": 16, "max_size": 24, "source": args.source}
        grid = settings(args.scenarios, ["abmil"], [0])
    if args.only:
        grid = [s for pat in args.only for s in grid if fnmatch.fnmatchcase(s.name, pat)]
    other = {r.get("source", "digits") for r in load_records(rec_dir)} - {args.source}
    if other:
        print(f"error: {rec_dir} holds records of --source {sorted(other)[0]}, not {args.source}: use another --out",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    for s in [] if args.report_only else grid:
        path = Path(rec_dir) / f"{s.name}.json"
        if path.exists() or not _claim(path.with_suffix(".lock")):
            continue  # done, or another process of this command runs it
        atomic_write_json(path, run_setting(s, **kw))
        path.with_suffix(".lock").unlink(missing_ok=True)
    text = markdown_report(load_records(rec_dir))
    atomic_write_text(out / "report.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
