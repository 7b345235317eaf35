"""Reproduce the published MIL-benchmark numbers (docs/data.md): 5 × 10-fold CV on Musk1 and UCSB breast.

``python -m core.train.reproduce --dataset musk1 --out DIR [--hosts abmil,dsmil] [--repeats 5]``

Each host is cross-validated with :func:`core.train.cv.run_cv` (resumable: a rerun continues) into
``DIR/<dataset>/<host>/``, and a markdown table of ours (mean ± std over the 50 folds) beside the
published numbers is printed and written to ``DIR/<dataset>/table.md``. The protocol (features
standardised per training fold, Adam with L2 weight decay as Ilse et al. 2018, one bag per step, no
validation split: the model after the last epoch is tested) is :data:`PROTOCOLS`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from core.atomic import atomic_write_text
from core.data.manifest_parsing import sort_classes
from core.data.mil_csv import read_mil_csv
from core.data.realdata import fetch
from core.errors import EvidentError
from core.keyvalue import parse_key_values
from core.models.base import HostConfig
from core.models.registry import HOSTS, OWN_HOSTS
from core.train.cohort import cohort_from_arrays
from core.train.cv import CVConfig, run_cv, with_task
from core.train.trainer import TrainConfig

__all__ = ["Protocol", "PROTOCOLS", "mil_csv_cohort", "reproduce", "main"]


@dataclass(frozen=True)
class Protocol:
    """How one benchmark is run and what was published (metric -> {method: value})."""

    key: str
    metric: str
    published: dict[str, float]
    host: HostConfig
    train: TrainConfig
    cv: CVConfig = CVConfig(folds=10, repeats=5, seed=0, val_fraction=0.0)
    host_extra: dict[str, dict] = field(default_factory=dict)


PROTOCOLS: dict[str, Protocol] = {
    "musk1": Protocol(
        "musk1", "accuracy",
        {"ABMIL attention (Ilse 2018)": 0.892, "ABMIL gated attention (Ilse 2018)": 0.900, "mi-Graph": 0.889},
        HostConfig(in_dim=166, n_outputs=2, hidden=128, attn_hidden=64, dropout=0.0),
        TrainConfig(epochs=40, lr=5e-4, weight_decay=5e-3, optimizer="adam", batch_size=1, standardise=True,
                    grad_clip=5.0),
    ),
    "ucsb_breast": Protocol(
        "ucsb_breast", "auc",
        {"MILES": 0.833, "MInD": 0.831, "path encoding": 0.880, "Hopfield pooling (Widrich 2021)": 0.895},
        HostConfig(in_dim=708, n_outputs=2, hidden=128, attn_hidden=64, dropout=0.0),
        TrainConfig(epochs=40, lr=5e-4, weight_decay=5e-3, optimizer="adam", batch_size=1, standardise=True,
                    grad_clip=5.0),
    ),
}


def mil_csv_cohort(path: str | Path):
    """A :class:`core.train.cohort.TrainCohort` straight from a MIL CSV (label, bag id, features)."""
    bags = read_mil_csv(path)
    classes = sort_classes({b.label for b in bags})
    return cohort_from_arrays([b.features for b in bags], [classes.index(b.label) for b in bags], "classification",
                              classes, slide_ids=[b.bag_id for b in bags])


def reproduce(dataset: str, out: str | Path, hosts: list[str], repeats: int | None = None,
              epochs: int | None = None, csv_path: str | Path | None = None,
              host_extra: dict | None = None) -> list[dict]:
    """Cross-validate every host on ``dataset``; returns rows ``{host, mean, std, seconds}`` of the metric.

    ``host_extra`` overrides host-specific settings (e.g. ``{"n_groups": 1}`` for DTFD-MIL) for every host
    that has the option (an option no listed host has is an EvidentError).
    """

    proto = PROTOCOLS[dataset]
    cohort = mil_csv_cohort(csv_path or fetch(dataset))
    cv = replace(proto.cv, repeats=repeats or proto.cv.repeats)
    train = replace(proto.train, epochs=epochs or proto.train.epochs)
    rows = []
    known = {h: {f.name for f in fields(HOSTS[h].Options)} for h in hosts if h in HOSTS}
    orphan = sorted(set(host_extra or {}) - set().union(*known.values()))
    if orphan:
        raise EvidentError(None, f"--host-extra {', '.join(orphan)}: none of the hosts {', '.join(hosts)} has it")
    for host in hosts:
        extra = {**proto.host_extra.get(host, {}),
                 **{k: v for k, v in (host_extra or {}).items() if k in known.get(host, ())}}
        cfg = with_task(replace(proto.host, extra=tuple(sorted(extra.items()))), cohort)
        t0 = time.perf_counter()
        res = run_cv(cohort, host, cfg, Path(out) / dataset / host, train, cv, resume=True)
        rows.append({"host": host, "mean": res["mean"][proto.metric], "std": res["std"][proto.metric],
                     "pooled": res["pooled"][proto.metric], "seconds": time.perf_counter() - t0,
                     "accuracy": res["mean"].get("accuracy"), "auc": res["mean"].get("auc")})
    return rows


def table(dataset: str, rows: list[dict], cv: CVConfig) -> str:
    """Markdown: ours beside the published numbers."""
    proto = PROTOCOLS[dataset]
    lines = [f"| {dataset} ({proto.metric}, {cv.repeats}×{cv.folds}-fold) | ours mean ± std over folds | pooled per repeat | time |",
             "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['host']} | {r['mean']:.3f} ± {r['std']:.3f} | {r['pooled']:.3f} | {r['seconds']:.0f} s |")
    for name, value in proto.published.items():
        lines.append(f"| published: {name} | {value:.3f} | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""

    p = argparse.ArgumentParser(prog="python -m core.train.reproduce", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=sorted(PROTOCOLS))
    p.add_argument("--out", required=True)
    p.add_argument("--hosts", default=",".join(OWN_HOSTS))
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--host-extra", action="append", default=[], metavar="KEY=VALUE",
                   help="host-specific setting (JSON value), e.g. n_groups=1 for dtfd; repeatable")
    args = p.parse_args(argv)

    try:
        extra = parse_key_values(args.host_extra)
    except ValueError as exc:
        p.error(f"--host-extra: {exc}")
    rows = reproduce(args.dataset, args.out, args.hosts.split(","), args.repeats, args.epochs, host_extra=extra)
    md = table(args.dataset, rows, replace(PROTOCOLS[args.dataset].cv, repeats=args.repeats or 5))
    atomic_write_text(Path(args.out) / args.dataset / "table.md", md)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
