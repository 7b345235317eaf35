"""λ_e sweep of explanation-aware training (docs/explanations.md §4): task metric vs annotation metrics.

``python -m core.train.sweep --manifest CSV --features DIR --annotations DIR --out DIR`` cross-validates
the host once per λ_e in ``--weights`` (default 0, 0.01, 0.1, 1, 10) with the clean annotations and,
for λ_e > 0, once more with deliberately noisy ones (every polygon dilated by ``--noise-dilate``
patches and shifted by ``--noise-shift`` patches along x and y, shapely ``buffer``/``translate``).
Every run is *evaluated* against the clean annotations (held-out folds, core.train.annotation_masks).

Output::

    OUT/<clean|noisy>_lambda<λ>/    one ``evident train``-style run folder each (resumable)
    OUT/trade_off.csv, trade_off.md  one row per run: task metric, coverage, precision, relevance mass,
                                     Dice, each with its chance level
    OUT/trade_off.png               task metric vs annotation coverage, saliency precision, relevance mass
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from core.atomic import atomic_path, ensure_writable_dir
from core.errors import EvidentError
from core.train.annotation_masks import TOP_FRACTION, add_annotation_metrics, annotation_masks, infer_patch_size

__all__ = ["main", "noisy_transform", "run_sweep", "write_plot", "write_table"]

COLUMNS = ("annotations", "lambda", "metric", "metric_std", "coverage", "coverage_chance", "precision",
           "precision_chance", "relevance_mass", "relevance_mass_chance", "dice", "dice_chance")


def noisy_transform(dilate_px: float, shift_px: float):
    """geometry -> geometry dilated by ``dilate_px`` then shifted by ``shift_px`` in x and y (level-0 px)."""
    from shapely.affinity import translate  # local: shapely only when used

    def transform(g):
        return translate(g.buffer(dilate_px), shift_px, shift_px)

    return transform


def run_sweep(args: argparse.Namespace) -> list[dict]:
    """Run every setting (skipping finished ones) and return the table rows (see :data:`COLUMNS`)."""
    import torch  # local: torch only when used

    from core.models.base import HostConfig  # local: pulls in torch
    from core.train.cohort import load_cohort  # local: pulls in torch
    from core.train.cv import CVConfig, run_cv, with_task  # local: pulls in torch
    from core.train.explanation_loss import explanation_objective  # local: pulls in torch
    from core.train.objective import default_factory  # local: pulls in torch
    from core.train.trainer import TrainConfig  # local: pulls in torch

    out = ensure_writable_dir(Path(args.out))
    cohort = load_cohort(args.manifest, args.features)
    clean = annotation_masks(cohort.bags, args.annotations, args.patch_size)
    size = args.patch_size or infer_patch_size(cohort.bags[0].coords.numpy())
    noisy = annotation_masks(cohort.bags, args.annotations, args.patch_size,
                             transform=noisy_transform(args.noise_dilate * size, args.noise_shift * size))
    n_clean = sum(int(m.sum()) for m in clean.values())
    n_noisy = sum(int(m.sum()) for m in noisy.values())
    n_both = sum(int((m & clean[k]).sum()) for k, m in noisy.items())
    print(f"[sweep] annotated patches: clean {n_clean}, noisy {n_noisy} ({n_both} of them also in the clean masks)",
          file=sys.stderr)
    host_config = with_task(HostConfig(in_dim=1, n_outputs=1, hidden=args.hidden, attn_hidden=args.attn_hidden,
                                       dropout=args.dropout), cohort)
    train_cfg = TrainConfig(epochs=args.epochs, lr=args.lr, standardise=True)
    cv = CVConfig(folds=args.folds, seed=args.seed, val_fraction=0.0)
    metric = "auc" if cohort.task == "classification" else "c_index"
    rows = []
    settings = [("clean", w) for w in args.weights] + [("noisy", w) for w in args.weights if w > 0]
    for tag, weight in settings:
        masks = clean if tag == "clean" else noisy

        def factory(name, config, bags, masks=masks, weight=weight):
            model, objective = default_factory(name, config, bags)
            return model, explanation_objective(objective, cohort.task, args.loss, weight, masks)

        run_dir = out / f"{tag}_lambda{weight:g}"
        extra = {"explanation": {"loss": args.loss, "weight": weight, "annotations": tag}}
        print(f"[sweep] {tag} annotations, λ_e = {weight:g}", file=sys.stderr)
        summary = run_cv(cohort, args.host, host_config, run_dir, train_cfg, cv, factory=factory,
                         device=torch.device("cpu"), resume=True, extra_config=extra)
        summary = add_annotation_metrics(run_dir, cohort, summary, clean)
        a = summary["annotation"]["mean"]
        rows.append({"annotations": tag, "lambda": weight, "metric": summary["mean"].get(metric),
                     "metric_std": summary["std"].get(metric),
                     **{k: a.get(k) for k in COLUMNS[4:]}})
    rows = [{**r, "metric_name": metric} for r in rows]
    write_table(out, rows, args)
    write_plot(out / "trade_off.png", rows, metric)
    return rows


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}"


def write_table(out: Path, rows: list[dict], args: argparse.Namespace) -> None:
    """``trade_off.csv`` and ``trade_off.md`` (atomic)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r["annotations"], f"{r['lambda']:g}", *(_fmt(r[k]) for k in COLUMNS[2:])])
    with atomic_path(out / "trade_off.csv") as p:
        Path(p).write_text(buf.getvalue(), encoding="utf-8")
    metric = rows[0]["metric_name"] if rows else "metric"
    lines = [(f"Explanation loss `{args.loss}`, host `{args.host}`, {args.folds}-fold CV, {args.epochs} epochs; "
             f"annotation metrics on held-out annotated slides against the clean annotations, top "
             f"{100 * TOP_FRACTION:g} % of scores (chance in brackets)."), "",
             f"| annotations | λ_e | {metric} | coverage | precision | relevance mass | Dice@0.5 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['annotations']} | {r['lambda']:g} | {_fmt(r['metric'])} ± {_fmt(r['metric_std'])} | "
                     f"{_fmt(r['coverage'])} ({_fmt(r['coverage_chance'])}) | "
                     f"{_fmt(r['precision'])} ({_fmt(r['precision_chance'])}) | "
                     f"{_fmt(r['relevance_mass'])} ({_fmt(r['relevance_mass_chance'])}) | "
                     f"{_fmt(r['dice'])} ({_fmt(r['dice_chance'])}) |")
    with atomic_path(out / "trade_off.md") as p:
        Path(p).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plot(path: Path, rows: list[dict], metric: str) -> None:
    """Task metric vs coverage, precision and relevance mass, one line per annotation kind, points labelled by λ_e."""
    import matplotlib  # local: matplotlib only when used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # local: matplotlib only when used

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ("coverage", "precision", "relevance_mass"), strict=True):
        for tag, style in (("clean", "o-"), ("noisy", "s--")):
            pts = [r for r in rows if r["annotations"] == tag and r[key] is not None and r["metric"] is not None]
            if tag == "noisy":
                pts = [r for r in rows if r["annotations"] == "clean" and r["lambda"] == 0] + pts
            ax.plot([r[key] for r in pts], [r["metric"] for r in pts], style, label=f"{tag} annotations")
            for r in pts:
                ax.annotate(f"{r['lambda']:g}", (r[key], r["metric"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xlabel(f"annotation {key} (top 10 %)" if key != "relevance_mass" else "relevance mass inside annotation")
        ax.set_ylabel(metric)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as p:
        fig.savefig(p, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.train.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--features", default=None)
    p.add_argument("--annotations", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--host", default="abmil")
    p.add_argument("--loss", default="outside-mass", choices=("outside-mass", "rrr", "kl"))
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.01, 0.1, 1.0, 10.0])
    p.add_argument("--noise-dilate", type=float, default=1.0, help="polygon dilation in patches (default 1)")
    p.add_argument("--noise-shift", type=float, default=2.0, help="polygon shift in patches along x and y (default 2)")
    p.add_argument("--patch-size", type=int, default=None)
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--attn-hidden", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        rows = run_sweep(args)
    except EvidentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((Path(args.out) / "trade_off.md").read_text(encoding="utf-8"))
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
