"""The grid behind ``evident train``'s default training settings (docs/results_hosts.md, "Default training settings").

``python -m core.train.default_grid --out OUT [--datasets digits,musk1,ucsb_breast] [--gce-on digits] [--repeats R]
[--seed S] [--first-grid] [--candidates] [--resolve-with DIR] [--settings NAME,...] [--gce-only] [--collect] [--quick]``

Every setting of :data:`GRID` (learning rate × schedule × input standardisation, with the floor on the
kept epoch; ``--first-grid``: the first pass's settings without it) is run through the
``evident train`` command line itself (in a child process, so every other flag keeps its default:
AdamW, cosine schedule, 10% validation split, best epoch by validation loss) on each data set with
the gated-ABMIL host, and with ``--gce`` (prototype anchors) on the data sets named by ``--gce-on``.
Data: the 100 held-out digit bags of :mod:`core.data.digits` (written with
:func:`core.data.digits.write_digit_bags`), Musk1 and UCSB breast imported with ``evident import-bags``
(:mod:`core.data.realdata` fetches the CSVs). 5 folds, ``--repeats`` (default 1), seed 0.
``--candidates`` adds :data:`CANDIDATES` (weight averaging, warm-up, early stopping, balanced
sampling on top of the chosen setting); ``--settings`` runs only the named settings; ``--collect``
trains nothing and tabulates every finished run under ``OUT/runs`` (several invocations merged).

Output::

    OUT/data/<dataset>/            manifest.csv + features/ (digits, imported MIL CSVs)
    OUT/runs/<combo>/<setting>/    one ``evident train`` run folder each (rerunning resumes it)
    OUT/grid.json, OUT/grid.md     accuracy and AUC (mean ± std over folds) per setting and combo, the
                                   best accuracy per combo, each setting's shortfall from it, and the
                                   chosen setting (:func:`choose`: smallest worst shortfall, ties
                                   within 0.02 broken by the mean shortfall); with repeats, each
                                   setting's shortfall from its combo's best paired over the same
                                   folds with a 95% interval (:mod:`core.train.paired_folds`)

Third pass (after the floor on the kept epoch): :data:`GRID` at 5 × 1 folds; the settings :func:`choose`
ties there are re-run at 5 × 3 on UCSB (``--datasets ucsb_breast --gce-on ucsb_breast --repeats 3
--settings ...`` into another folder), and ``--collect --resolve-with THAT_FOLDER`` applies
:func:`resolve`.

``--quick`` (tests): 2 folds, 20 digit bags, 1 or 3 epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.train.defaults import MIN_EPOCHS

__all__ = ["CANDIDATES", "FIRST_GRID", "GRID", "TrainingSetting", "choose", "collect_rows", "grid_table", "main", "prepare_dataset",
           "resolve", "run_grid", "tied_settings", "train_run"]


@dataclass(frozen=True)
class TrainingSetting:
    """One grid point: ``lr``, ``epochs`` (maximum), ``patience`` (None: no early stopping), ``standardise``,
    ``warmup`` (epochs of linear warm-up), ``average`` (weights averaged over the last K epochs; 1: none),
    ``balanced`` (class-balanced sampling), ``min_epochs`` (the kept epoch is chosen from this epoch on; 1, the
    trainer's behaviour before the floor existed, keeps the names of the first two passes); see
    :class:`core.train.trainer.TrainConfig`."""

    lr: float
    epochs: int
    patience: int | None
    standardise: bool
    warmup: int = 0
    average: int = 1
    balanced: bool = False
    min_epochs: int = 1

    @property
    def name(self) -> str:
        stop = f"{self.epochs}" if self.patience is None else f"{self.epochs}p{self.patience}"
        extra = (f"_wu{self.warmup}" if self.warmup else "") + (f"_avg{self.average}" if self.average > 1 else "") + (
            "_bal" if self.balanced else "") + (f"_min{self.min_epochs}" if self.min_epochs != 1 else "")
        return f"lr{self.lr:g}_ep{stop}_{'std' if self.standardise else 'raw'}{extra}"

    def flags(self) -> list[str]:
        """The ``evident train`` flags of this setting (every grid quantity explicit, whatever the defaults)."""
        f = ["--lr", f"{self.lr:g}", "--epochs", str(self.epochs)]
        if self.patience is not None:
            f += ["--patience", str(self.patience)]
        return f + ["--standardise" if self.standardise else "--no-standardise", "--warmup-epochs", str(self.warmup),
                    "--average-epochs", str(self.average), "--min-epochs", str(self.min_epochs),
                    "--balanced-sampling" if self.balanced else "--no-balanced-sampling"]


#: the first pass (docs/default_grid.json ``rows``) ran these with ``min_epochs = 1``; the third pass, after the
#: floor on the kept epoch was added (docs/results_hosts.md, "A floor on the kept epoch"), with the floor
FIRST_GRID: tuple[TrainingSetting, ...] = tuple(
    TrainingSetting(lr, ep, pat, std)
    for lr in (2e-4, 1e-3) for ep, pat in ((15, None), (50, 10)) for std in (False, True)
)
GRID: tuple[TrainingSetting, ...] = tuple(replace(s, min_epochs=MIN_EPOCHS) for s in FIRST_GRID)
#: what a careful trainer adds to the grid's lr 1e-3 / standardised setting (docs/results_hosts.md): weight
#: averaging over the last 5 epochs, a 2-epoch warm-up, both with early stopping (≤ 50 epochs, patience 10),
#: class-balanced sampling
CANDIDATES: tuple[TrainingSetting, ...] = (
    TrainingSetting(1e-3, 15, None, True, average=5),
    TrainingSetting(1e-3, 15, None, True, warmup=2),
    TrainingSetting(1e-3, 50, 10, True, warmup=2, average=5),
    TrainingSetting(1e-3, 15, None, True, balanced=True),
)
QUICK_GRID: tuple[TrainingSetting, ...] = (TrainingSetting(2e-4, 1, None, False), TrainingSetting(1e-3, 3, 1, True))


def evident(argv: list[str]) -> int:
    """``evident ARGV`` in a child process (the command line itself, every other flag at its default;
    core.train sits below the CLI in the layers, so it runs it rather than importing it)."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "core.cli", *argv], check=False).returncode


def train_run(argv: list[str], run: Path, label: str) -> dict:
    """Run ``evident train`` ``argv`` into ``run`` (resuming what an earlier invocation left there) and
    return its ``results.json``; ``label`` is the progress line on stderr."""
    argv = [*argv, "--resume"] if (run / "config.json").exists() else list(argv)
    print(label, file=sys.stderr, flush=True)
    if evident(argv) != 0:
        raise RuntimeError(f"evident {' '.join(argv)} failed")
    return json.loads((run / "results.json").read_text())


def prepare_dataset(dataset: str, root: Path, quick: bool = False, digit_seed: int = 0) -> Path:
    """Write ``root/<dataset>/manifest.csv`` (+ features) once; return the manifest path.

    ``dataset``: ``digits`` (100 digit bags drawn with ``digit_seed``, 20 with ``quick``; written to
    ``root/digits`` for seed 0, ``root/digits_s<seed>`` otherwise), ``musk1`` or ``ucsb_breast``.
    """
    out = root / (dataset if dataset != "digits" or digit_seed == 0 else f"digits_s{digit_seed}")
    manifest = out / "manifest.csv"
    if manifest.is_file():
        return manifest
    if dataset == "digits":
        from core.data.digits import make_digit_bags, write_digit_bags

        return write_digit_bags(out, make_digit_bags(20 if quick else 100, seed=digit_seed))
    from core.data.realdata import fetch

    if evident(["import-bags", str(fetch(dataset)), "--out", str(out)]) != 0:
        raise RuntimeError(f"evident import-bags failed for {dataset}")
    return manifest


def run_grid(out: str | Path, datasets: list[str], gce_on: list[str], quick: bool = False, *, repeats: int = 1,
             seed: int = 0, grid: Sequence[TrainingSetting] | None = None, gce_only: bool = False) -> list[dict]:
    """Run every (combo, setting) with ``repeats`` × k folds from ``seed``; returns rows ``{combo, setting,
    flags, accuracy, accuracy_std, auc, auc_std, folds, fold_accuracy}`` (``fold_accuracy``: one value per
    (repeat, fold) in the run's order, the same splits for every setting, so they pair up); ``gce_only``:
    skip the host-alone runs of the data sets in ``gce_on``."""
    out = Path(out)
    grid = grid if grid is not None else (QUICK_GRID if quick else GRID)
    folds = "2" if quick else "5"
    rows = []
    for dataset in datasets:
        manifest = prepare_dataset(dataset, out / "data", quick)
        for gce in (((True,) if gce_only else (False, True)) if dataset in gce_on else (False,)):
            combo = f"{dataset}/abmil{'+gce' if gce else ''}"
            for s in grid:
                run = out / "runs" / combo.replace("/", "_") / s.name
                argv = ["train", "--manifest", str(manifest), "--host", "abmil", "--out", str(run),
                        "--folds", folds, "--repeats", str(repeats), "--seed", str(seed), *s.flags(),
                        *(["--gce"] if gce else [])]
                res = train_run(argv, run, f"[grid] {combo} {s.name}")
                rows.append({"combo": combo, "setting": s.name, "flags": " ".join(s.flags()),
                             "accuracy": res["mean"]["accuracy"], "accuracy_std": res["std"]["accuracy"],
                             "auc": res["mean"]["auc"], "auc_std": res["std"]["auc"], "folds": int(folds),
                             "fold_accuracy": [f["metrics"]["accuracy"] for f in res["folds"]]})
    return rows


def collect_rows(out: str | Path) -> list[dict]:
    """Rows (as :func:`run_grid` returns them) of every finished run under ``OUT/runs/<combo>/<setting>/``
    whose setting is in :data:`GRID` or :data:`CANDIDATES` (no training: merges run folders of several
    invocations)."""
    known = {s.name: s for s in FIRST_GRID + GRID + CANDIDATES}
    rows = []
    for res_path in sorted(Path(out).glob("runs/*/*/results.json")):
        setting, combo_dir = res_path.parent.name, res_path.parent.parent.name
        if setting not in known:
            continue
        res = json.loads(res_path.read_text())
        cfg = json.loads((res_path.parent / "config.json").read_text())
        dataset, host = combo_dir.rsplit("_", 1)
        rows.append({"combo": f"{dataset}/{host}", "setting": setting, "flags": " ".join(known[setting].flags()),
                     "accuracy": res["mean"]["accuracy"], "accuracy_std": res["std"]["accuracy"],
                     "auc": res["mean"]["auc"], "auc_std": res["std"]["auc"], "folds": int(cfg["cv"]["folds"]),
                     "fold_accuracy": [f["metrics"]["accuracy"] for f in res["folds"]]})
    return rows


def choose(rows: list[dict], metric: str = "accuracy", tie: float = 0.02) -> dict:
    """Shortfalls from each combo's best and the setting whose worst shortfall is smallest.

    Worst shortfalls within ``tie`` of the smallest are treated as equal (below what the data sets
    resolve: one UCSB bag in one 12-bag test fold moves the mean fold accuracy by 0.017), and among
    them the smaller mean shortfall decides, then the earlier setting.

    Returns
    -------
    dict
        ``best`` {combo: best value}, ``shortfall`` {setting: {combo: best - value}},
        ``worst`` {setting: max shortfall}, ``mean`` {setting: mean shortfall}, ``chosen`` setting name.
    """
    combos = list(dict.fromkeys(r["combo"] for r in rows))
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    value = {(r["combo"], r["setting"]): r[metric] for r in rows}
    best = {c: max(value[c, s] for s in settings if (c, s) in value) for c in combos}
    shortfall = {s: {c: best[c] - value[c, s] for c in combos if (c, s) in value} for s in settings}
    worst = {s: max(d.values()) for s, d in shortfall.items()}
    mean = {s: sum(d.values()) / len(d) for s, d in shortfall.items()}
    floor = min(worst.values())
    tied = [s for s in settings if worst[s] <= floor + tie + 1e-9]
    chosen = min(tied, key=lambda s: (round(mean[s], 9), settings.index(s)))
    return {"best": best, "shortfall": shortfall, "worst": worst, "mean": mean, "chosen": chosen}


def tied_settings(pick: dict, tie: float = 0.02) -> list[str]:
    """The settings :func:`choose` treats as tied on the worst shortfall (within ``tie`` of the smallest)."""
    floor = min(pick["worst"].values())
    return [s for s, w in pick["worst"].items() if w <= floor + tie + 1e-9]


def resolve(rows: list[dict], repeated: list[dict], tie: float = 0.02) -> dict:
    """The third pass's rule, fixed before its repeated runs (docs/results_hosts.md, "A floor on the kept epoch").

    :func:`choose` on ``rows`` (5 × 1 folds) gives the settings tied on the worst shortfall; on the
    combos of ``repeated`` (5 × R folds of some of those settings, on the data sets that 5 × 1 folds
    cannot resolve: UCSB, whose corrected 95% half-width at 5 × 3 is 0.13-0.16) their rows are
    replaced by the repeated ones, and :func:`choose` is applied again to the tied settings only.

    Returns :func:`choose`'s dict for the tied settings plus ``tied`` (names), ``replaced`` (combos) and
    ``rows`` (the rows compared).
    Raises ``ValueError`` when a tied setting lacks a repeated row on a replaced combo.
    """
    tied = tied_settings(choose(rows, tie=tie), tie)
    replaced = sorted({r["combo"] for r in repeated})
    have = {(r["combo"], r["setting"]) for r in repeated}
    lacking = [(c, s) for c in replaced for s in tied if (c, s) not in have]
    if lacking:
        raise ValueError(f"no repeated run for {', '.join(f'{c} {s}' for c, s in lacking)}")
    merged = ([r for r in rows if r["setting"] in tied and r["combo"] not in replaced]
              + [r for r in repeated if r["setting"] in tied])
    return {**choose(merged, tie=tie), "tied": tied, "replaced": replaced, "rows": merged}


def grid_table(rows: list[dict], pick: dict) -> str:
    """Markdown: one row per setting; per combo accuracy ± std / AUC and the shortfall from its best."""
    combos = list(pick["best"])
    by = {(r["combo"], r["setting"]): r for r in rows}
    head = ("| setting (flags) | " + " | ".join(f"{c} acc ± std / AUC (shortfall)" for c in combos)
            + " | worst shortfall | mean shortfall |")
    lines = [head, "|" + "---|" * (len(combos) + 3)]
    for s, short in pick["shortfall"].items():
        cells = []
        for c in combos:
            r = by.get((c, s))
            cells.append("" if r is None else
                         f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f} / {r['auc']:.3f} ({short[c]:.3f})")
        flags = next(r["flags"] for r in rows if r["setting"] == s)
        mark = " **chosen**" if s == pick["chosen"] else ""
        lines.append(f"| `{flags}`{mark} | " + " | ".join(cells) + f" | {pick['worst'][s]:.3f} | {pick['mean'][s]:.3f} |")
    lines.append("| best accuracy | " + " | ".join(f"{pick['best'][c]:.3f}" for c in combos) + " | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    from core.atomic import atomic_write_json, atomic_write_text, ensure_writable_dir
    from core.train.paired_folds import interval_table, shortfall_intervals

    p = argparse.ArgumentParser(prog="python -m core.train.default_grid", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--datasets", default="digits,musk1,ucsb_breast", help="comma-separated: digits, musk1, ucsb_breast")
    p.add_argument("--gce-on", default="digits", help="comma-separated data sets also run with --gce ('' for none)")
    p.add_argument("--quick", action="store_true", help="2 folds, 20 digit bags, 1 or 3 epochs (tests)")
    p.add_argument("--repeats", type=int, default=1, help="repeats of the 5-fold split (default 1)")
    p.add_argument("--seed", type=int, default=0, help="base seed of the splits and initialisation (default 0)")
    p.add_argument("--collect", action="store_true", help="train nothing: tabulate every finished run under OUT/runs")
    p.add_argument("--first-grid", action="store_true",
                   help="run the first pass's grid (no floor on the kept epoch, --min-epochs 1) instead of GRID")
    p.add_argument("--candidates", action="store_true", help="also run the CANDIDATES settings (warm-up, averaging, ...)")
    p.add_argument("--gce-only", action="store_true", help="run only the --gce runs of the data sets in --gce-on")
    p.add_argument("--resolve-with", default=None, metavar="DIR",
                   help="with --collect: the third pass's rule (resolve): the tied settings compared again with the "
                        "combos of DIR's finished runs (5 x R folds) in place of OUT's")
    p.add_argument("--settings", default="", help="comma-separated setting names to run (default: the whole grid)")
    args = p.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(datasets) - {"digits", "musk1", "ucsb_breast"})
    if unknown:
        p.error(f"unknown data set(s): {', '.join(unknown)}")
    out = ensure_writable_dir(Path(args.out))
    base = FIRST_GRID if args.first_grid else GRID
    grid = QUICK_GRID if args.quick else (base + CANDIDATES if args.candidates else base)
    if args.settings:
        names = args.settings.split(",")
        unknown = sorted(set(names) - {g.name for g in grid})
        if unknown:
            p.error(f"unknown setting(s): {', '.join(unknown)}")
        grid = tuple(g for g in grid if g.name in names)
    if args.collect:
        rows = collect_rows(out)
    else:
        rows = run_grid(out, datasets, [d for d in args.gce_on.split(",") if d], args.quick, repeats=args.repeats,
                        seed=args.seed, grid=grid, gce_only=args.gce_only)
    pick = choose(rows)
    md = grid_table(rows, pick)
    intervals = shortfall_intervals(rows, pick["best"])
    if any(len(r.get("fold_accuracy", [])) > r.get("folds", 5) for r in rows):  # repeats: paired intervals
        md += "\nShortfall from each combo's best setting, paired over the same folds:\n\n" + interval_table(intervals)
    resolved = None
    if args.resolve_with:
        resolved = resolve(rows, collect_rows(args.resolve_with))
        md += (f"\nResolved (tied on 5 x 1: {', '.join(resolved['tied'])}; {', '.join(resolved['replaced'])} "
               "from the repeated runs):\n\n" + grid_table(resolved["rows"], resolved)
               + "\n" + interval_table(shortfall_intervals(resolved["rows"], resolved["best"])))
    atomic_write_json(out / "grid.json", {"rows": rows, **pick, "intervals": intervals,
                                          **({"resolved": resolved} if resolved else {})})
    atomic_write_text(out / "grid.md", md)
    sys.stdout.write(md + f"\nchosen: {(resolved or pick)['chosen']}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
