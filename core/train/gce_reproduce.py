"""Reproduce the GCE evidence table (docs/results_gce.md): ``python -m core.train.gce_reproduce``.

For each data set (digits with known evidence; Musk1 and UCSB breast, real MIL sets) and each host,
trains the host alone and the host wrapped in GCE (ablation "full", prototype anchors k = 8) with
5-fold cross-validation (:mod:`core.train.gce_benchmark`), and writes a JSON of per-fold metrics and a
Markdown table of mean ± std over held-out folds. Hosts come from :func:`core.models.registry.build_host`
and the task loss from :func:`core.models.losses.task_loss` unless :func:`run` is given others.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence

from core.atomic import atomic_write_json, atomic_write_text
from core.keyvalue import parse_key_values
from core.models.gce_config import GCEConfig
from core.train.gce_benchmark import benchmark_folds, fold_mean_std, load_dataset

__all__ = ["main", "markdown_table", "run"]

COLUMNS = [  # (header, rule, metric)
    ("acc", None, "accuracy"),
    ("AUC", None, "auc"),
    ("prec", "{rule}", "precision"),
    ("rec", "{rule}", "recall"),
    ("C-D gap ↓", "{rule}", "cd_gap"),
    ("compl. degr. ↑", "{rule}", "complement_degradation"),
    ("suff. ↑", "{rule}", "evidence_sufficiency"),
    ("keep-only drop ↓", "{rule}", "keep_only_drop"),
    ("frac.", "{rule}", "evidence_fraction"),
]


def run(datasets: Sequence[str], hosts: Sequence[str], *, epochs: int, lr: float, build_host: Callable | None = None,
        task_loss: Callable | None = None, seed: int = 0, log=print, gce_options: dict | None = None,
        include_host: bool = True) -> list[dict]:
    """Train and evaluate every (data set, host, model); one record per combination.

    ``gce_options``: :class:`core.models.gce_config.GCEConfig` fields over the paper's values (recorded
    in each GCE record); ``include_host=False`` skips the host-alone runs.

    Models: the host alone, host + GCE with centred prototype anchors (k = 8), and on digits also
    host + GCE with exemplar anchors (one named anchor per digit, 5 picked instances each). The GCE
    variants run first, so that the host alone is also scored at each GCE variant's per-bag k.
    """
    if build_host is None:
        from core.models.registry import build_host  # local: the default when the caller passes none
    if task_loss is None:
        from core.models.losses import task_loss  # local: the default when the caller passes none
    records = []
    for ds in datasets:
        bags = load_dataset(ds, seed=seed)
        for host in hosts:
            variants = [(True, "prototypes")] + ([(True, "exemplars")] if ds == "digits" else [])
            variants += [(False, "")] if include_host else []
            gce_folds: dict[str, list[dict]] = {}
            for gce, anchors in variants:
                t0 = time.perf_counter()
                folds = benchmark_folds(bags, host, gce=gce, build_host=build_host, task_loss=task_loss, epochs=epochs, lr=lr,
                               seed=seed, anchors=anchors or "prototypes", gce_options=gce_options if gce else None,
                               matched_k=None if gce else gce_folds)
                if gce:
                    gce_folds[anchors] = folds
                rec = {"dataset": ds, "host": host, "gce": gce, "anchors": anchors, "epochs": epochs, "lr": lr,
                       "gce_options": dict(gce_options or {}) if gce else {},
                       "folds": folds, "summary": fold_mean_std(folds), "seconds": round(time.perf_counter() - t0, 1)}
                records.append(rec)
                log(f"{ds} {host} {'GCE ' + anchors if gce else 'host'}: {rec['seconds']} s")
    return records


def _cell(summary: dict, key: str) -> str:
    mean, std = summary.get(key, (math.nan, math.nan))
    return "–" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def _host_k_rules(summary: dict) -> list[str]:
    return sorted({k.rsplit("/", 1)[0] for k in summary if k.startswith("host_k/")})


def markdown_table(records: list[dict]) -> str:
    """One row per (data set, host, evidence rule): GCE discrete, the wrapped model's attention top-k
    at the same budget as GCE (matched), and the host alone's attention top-5%, random-5% and
    attention top-k at each GCE variant's per-bag k."""
    head = ["data", "host", "model", "evidence"] + [c[0] for c in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        rules = [("gce", "GCE discrete"), ("attention_matched", "attention top-k (GCE's k)")] if r["gce"] else \
            [("attention", "attention top-5%"), ("random", "random 5%")] + \
            [(k, f"attention top-k (k of GCE {k.split('/', 1)[1]})") for k in _host_k_rules(r["summary"])]
        for rule, label in rules:
            opts = ", ".join(f"{k}={v}" for k, v in sorted((r.get("gce_options") or {}).items()))
            model = f"host + GCE ({r.get('anchors') or 'prototypes'}{'; ' + opts if opts else ''})" if r["gce"] else "host"
            cells = [r["dataset"], r["host"], model, label]
            for _, pattern, metric in COLUMNS:
                key = metric if pattern is None else f"{rule}/{metric}"
                cells.append(_cell(r["summary"], key))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.train.gce_reproduce", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "musk1", "ucsb"], choices=["digits", "musk1", "ucsb"])
    p.add_argument("--hosts", nargs="+", default=["abmil", "clam_sb", "transmil", "dsmil", "dtfd"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="gce_results.json", help="per-fold metrics (JSON)")
    p.add_argument("--markdown", default="gce_results.md", help="the table (Markdown)")
    p.add_argument("--gce-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a GCEConfig field over the paper's value (JSON value), e.g. coverage_loss=contrastive; repeatable")
    p.add_argument("--no-host", action="store_true", help="skip the host-alone runs")
    args = p.parse_args(argv)

    try:
        options = parse_key_values(args.gce_option)
        GCEConfig(**options)
    except (TypeError, ValueError) as exc:
        p.error(f"--gce-option: {exc}")
    records = run(args.datasets, args.hosts, epochs=args.epochs, lr=args.lr, seed=args.seed, gce_options=options,
                  include_host=not args.no_host)
    atomic_write_json(args.json, records)
    atomic_write_text(args.markdown, markdown_table(records) + "\n")
    print(markdown_table(records))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
