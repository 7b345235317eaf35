"""Held-out comparison of the ``--gce-preset`` values behind the default preset (docs/results_gce.md, "Default GCE preset").

``python -m core.train.gce_preset_compare --out OUT [--datasets digits,musk1,ucsb_breast] [--hosts abmil,clam_sb]
[--presets paper,recoverable] [--seed 1] [--digit-seed 7] [--quick] [--merge DIR...]``

Every (data set, host, preset) is one ``evident train --gce --gce-preset P`` run (a child process,
every training flag at its default), 5 folds, seed ``--seed``; the digit bags are a new draw
(``--digit-seed``). The default seeds are draws no preset was chosen on (the ``recoverable`` options
were chosen on 3-fold runs of the seed-0 digit bags). Evidence numbers are those ``evident train --gce``
adds to ``results.json`` (docs/method.md §5).

Rule (:func:`choose_preset`, fixed before the runs): the candidate replaces the base preset when, over
the (data set, host) settings,

1. **no accuracy cost**: its mean accuracy is at most ``acc_tol`` (0.02) below the base's on average
   and at most ``acc_worst`` (0.05, about one fold std) below in every setting; and
2. **better evidence**: its C-D gap is lower in at least two thirds of the settings and lower on
   average, while on average its keep-only drop rises by at most ``guard`` (0.02) and its complement
   degradation falls by at most ``guard``.

Output: ``OUT/runs/<dataset>_<host>/<preset>/`` (run folders), ``OUT/presets.json`` (rows and the
decision), ``OUT/presets.md`` (table). ``--quick`` (tests): 20 digit bags, 2 folds, 1 epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = ["PRESET_METRICS", "choose_preset", "main", "preset_table", "run_presets"]

#: results.json quantities compared (mean and std over folds)
PRESET_METRICS = ("accuracy", "auc", "cd_gap", "keep_only_drop", "complement_degradation", "evidence_sufficiency",
                  "evidence_fraction")


def run_presets(out: Path, datasets: list[str], hosts: list[str], presets: list[str], seed: int, digit_seed: int,
                quick: bool = False) -> list[dict]:
    """Run every (data set, host, preset); rows ``{dataset, host, preset, <metric>, <metric>_std}``."""
    from core.train.default_grid import prepare_dataset, train_run

    rows = []
    for dataset in datasets:
        manifest = prepare_dataset(dataset, out / "data", quick, digit_seed)
        for host in hosts:
            for preset in presets:
                run = out / "runs" / f"{dataset}_{host}" / preset
                argv = ["train", "--manifest", str(manifest), "--host", host, "--out", str(run), "--gce",
                        "--gce-preset", preset, "--seed", str(seed), "--folds", "2" if quick else "5",
                        *(["--epochs", "1"] if quick else [])]
                res = train_run(argv, run, f"[presets] {dataset} {host} {preset}")
                row = {"dataset": dataset, "host": host, "preset": preset}
                for k in PRESET_METRICS:
                    row[k], row[f"{k}_std"] = res["mean"].get(k), res["std"].get(k)
                rows.append(row)
    return rows


def _nan(v) -> float:
    return math.nan if v is None else float(v)


def choose_preset(rows: list[dict], base: str = "paper", candidate: str = "recoverable", acc_tol: float = 0.02,
                  acc_worst: float = 0.05, guard: float = 0.02) -> dict:
    """Apply the rule of the module docstring.

    Returns
    -------
    dict
        Per setting differences ``candidate − base`` (``settings``: {"<dataset>/<host>": {metric: diff}}),
        ``mean_diff`` {metric: mean over settings}, ``cd_wins`` (settings where the candidate's C-D gap
        is lower), ``n``, ``no_accuracy_cost``, ``better_evidence`` (bools) and ``chosen`` preset.
    """
    by = {(r["dataset"], r["host"], r["preset"]): r for r in rows}
    pairs = [(d, h) for (d, h, p) in by if p == base and (d, h, candidate) in by]
    keys = ("accuracy", "cd_gap", "keep_only_drop", "complement_degradation")
    settings = {f"{d}/{h}": {k: _nan(by[d, h, candidate][k]) - _nan(by[d, h, base][k]) for k in keys}
                for d, h in pairs}
    n = len(settings)
    mean_diff = {k: (sum(s[k] for s in settings.values()) / n if n else math.nan) for k in keys}
    cd_wins = sum(s["cd_gap"] < 0 for s in settings.values())
    no_cost = bool(n) and mean_diff["accuracy"] >= -acc_tol - 1e-12 and all(
        s["accuracy"] >= -acc_worst - 1e-12 for s in settings.values())
    better = (bool(n) and 3 * cd_wins >= 2 * n and mean_diff["cd_gap"] < 0
              and mean_diff["keep_only_drop"] <= guard + 1e-12 and mean_diff["complement_degradation"] >= -guard - 1e-12)
    return {"base": base, "candidate": candidate, "settings": settings, "mean_diff": mean_diff, "cd_wins": cd_wins,
            "n": n, "no_accuracy_cost": no_cost, "better_evidence": better,
            "chosen": candidate if (no_cost and better) else base}


def preset_table(rows: list[dict]) -> str:
    """Markdown: one row per (data set, host, preset), mean ± std over folds."""
    cols = ("accuracy", "cd_gap", "keep_only_drop", "complement_degradation", "evidence_sufficiency", "evidence_fraction")
    head = "| data | host | preset | acc | C-D gap ↓ | keep-only drop ↓ | compl. degr. ↑ | suff. ↑ | frac. |"
    lines = [head, "|" + "---|" * 9]

    def cell(r, k):
        return "–" if r[k] is None else f"{r[k]:.3f} ± {(r[k + '_std'] or 0.0):.3f}"

    for r in rows:
        lines.append(f"| {r['dataset']} | {r['host']} | {r['preset']} | " + " | ".join(cell(r, k) for k in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    from core.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
    from core.train.gce_cv import GCE_PRESETS

    p = argparse.ArgumentParser(prog="python -m core.train.gce_preset_compare", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--datasets", default="digits,musk1,ucsb_breast")
    p.add_argument("--hosts", default="abmil,clam_sb")
    p.add_argument("--presets", default="paper,recoverable", help="base,candidate")
    p.add_argument("--seed", type=int, default=1, help="split/initialisation seed (default 1: not used to choose)")
    p.add_argument("--digit-seed", type=int, default=7, help="draw of the digit bags (default 7: not used to choose)")
    p.add_argument("--quick", action="store_true", help="20 digit bags, 2 folds, 1 epoch (tests)")
    p.add_argument("--merge", nargs="+", default=None, metavar="DIR",
                   help="train nothing: the rule on the rows of these earlier invocations' presets.json together "
                        "(e.g. one folder per --hosts value)")
    args = p.parse_args(argv)
    presets = [x for x in args.presets.split(",") if x]
    bad = sorted(set(presets) - set(GCE_PRESETS))
    if len(presets) != 2 or bad:
        p.error(f"--presets needs two of {', '.join(GCE_PRESETS)} (base,candidate); got {args.presets!r}")
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(datasets) - {"digits", "musk1", "ucsb_breast"})
    if unknown:
        p.error(f"unknown data set(s): {', '.join(unknown)}")
    out = ensure_writable_dir(Path(args.out))
    if args.merge:
        from core.jsonfile import read_json

        rows = [r for d in args.merge for r in read_json(Path(d) / "presets.json", "preset comparison")["rows"]]
    else:
        rows = run_presets(out, datasets, [h for h in args.hosts.split(",") if h], presets, args.seed,
                           args.digit_seed, args.quick)
    pick = choose_preset(rows, presets[0], presets[1])
    md = preset_table(rows)
    atomic_write_json(out / "presets.json", {"rows": rows, "seed": args.seed, "digit_seed": args.digit_seed, **pick})
    atomic_write_text(out / "presets.md", md)
    sys.stdout.write(md + f"\nchosen: {pick['chosen']} (C-D gap lower in {pick['cd_wins']} of {pick['n']}; "
                          f"mean differences {json.dumps({k: round(v, 4) for k, v in pick['mean_diff'].items()})})\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
