"""``evident train``: repeated k-fold cross-validation of a MIL host on a cohort (core.train.cv).

GCE hook: :func:`core.train.gce_cv.add_gce_arguments` adds ``--gce --anchors SPEC --ablation NAME``
and :func:`core.train.gce_cv.gce_factory` returns a model factory (see
:mod:`core.train.objective`: ``(host_name, host_config, train_bags) -> (model, objective)``, e.g.
wrapping the host with ``core.models.gce.build_gce`` and returning ``model.objective(task)``), plus
the settings to store in ``config.json``.
"""

from __future__ import annotations

import argparse

from core.commands._argtypes import nonneg_float, nonneg_int, positive_int
from core.errors import EvidentError
from core.train import defaults as D
from core.train.gce_cv import add_evidence_metrics, add_gce_arguments, gce_factory  # GCE options (torch-free at import)

NAME = "train"
TRAIN_TASKS = ("classification", "survival", "regression")  # core.models.losses.Task (torch-free here)
HELP = "cross-validate a MIL host (abmil, clam_sb, transmil, dsmil, dtfd) on a cohort manifest + feature bags"
DESCRIPTION = (
    "Train and evaluate a MIL host by repeated k-fold cross-validation split by case (stratified by "
    "label). Writes OUT/config.json, OUT/fold_<r>_<k>/model.pt, OUT/predictions.csv, OUT/results.json "
    "(per-fold metrics, mean and std) and OUT/training_curves.png. --resume continues an interrupted run."
)


# --- explanation-aware training options (core.train.explanation_loss / annotation_masks) ---
def add_explanation_arguments(p: argparse.ArgumentParser) -> None:
    """``--annotations DIR``, ``--evidence-classes NAMES``, ``--explanation-loss NAME``,
    ``--explanation-weight λ``, ``--patch-size PX``."""
    p.add_argument("--annotations", metavar="DIR", default=None,
                   help="folder of <slide_id>.geojson region annotations: enables the explanation loss (on "
                        "annotated slides only) and adds held-out annotation metrics to results.json")
    p.add_argument("--evidence-classes", metavar="NAME[,NAME...]", default=None,
                   help="annotation classes that are evidence, as QuPath names them (e.g. Tumor); regions of "
                        "other classes and unclassified ones are not (default: every region)")
    p.add_argument("--explanation-loss", choices=("outside-mass", "rrr", "kl"), default=None,
                   help="outside-mass (attention/gate mass outside the annotation, default), rrr (input "
                        "gradients outside it), kl (KL of annotation mask vs attention)")
    p.add_argument("--explanation-weight", type=nonneg_float, default=None, metavar="LAMBDA",
                   help="weight λ_e of the explanation loss (default 1; 0: annotation metrics only)")
    p.add_argument("--patch-size", type=positive_int, default=None, metavar="PX",
                   help="patch side in level-0 pixels for the annotation masks (default: from the coordinates)")


def explanation_factory(args: argparse.Namespace, cohort, factory):
    """Return ``(factory, masks, extra_config)``: ``factory`` wrapped with the explanation loss when
    ``--annotations`` is given, else unchanged with ``masks=None``."""
    if args.annotations is None:
        if (args.explanation_loss is not None or args.explanation_weight is not None
                or args.evidence_classes is not None):
            raise EvidentError(None, "--explanation-loss/--explanation-weight/--evidence-classes need --annotations DIR")
        return factory, None, {}
    # local: evident --help loads this module; core.train.annotation_masks only when run
    from core.train.annotation_masks import annotation_masks, evidence_classes

    # local: evident --help loads this module; torch only when run
    from core.train.explanation_loss import explanation_objective

    names = None if args.evidence_classes is None else [
        n.strip() for n in args.evidence_classes.split(",") if n.strip()]
    classes = evidence_classes(cohort.bags, args.annotations, names)
    print(classes.describe(), flush=True)
    masks = annotation_masks(cohort.bags, args.annotations, args.patch_size, classes=classes.selected)
    kind = args.explanation_loss or "outside-mass"
    weight = 1.0 if args.explanation_weight is None else args.explanation_weight
    task = cohort.task

    def wrapped(host_name, host_config, train_bags):
        model, objective = factory(host_name, host_config, train_bags)
        return model, explanation_objective(objective, task, kind, weight, masks)

    extra = {"explanation": {"loss": kind, "weight": weight, "annotations": str(args.annotations),
                             **classes.to_config(),
                             "n_annotated": int(sum(bool(m.any()) for m in masks.values()))}}
    return wrapped, masks, extra


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, metavar="CSV",
                   help="cohort manifest (slide_id, case_id, label | time, event); --task regression reads a numeric label")
    p.add_argument("--features", metavar="DIR", default=None,
                   help="folder of feature bags (CLAM/TRIDENT .h5 or .pt); not needed when the manifest has features_path")
    p.add_argument("--host", required=True, help="abmil, clam_sb, transmil, dsmil or dtfd")
    p.add_argument("--task", default=None, choices=TRAIN_TASKS,
                   help="default: from the manifest's columns (label: classification; time+event: survival); "
                        "regression: the label column as a number, standardised on each training fold (docs/regression.md)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--folds", type=positive_int, default=5, help="k of k-fold cross-validation (default 5)")
    p.add_argument("--repeats", type=positive_int, default=1, help="repeats of the k-fold split (default 1)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    # defaults: core.train.defaults, chosen by the grid of docs/results_hosts.md ("Default training settings")
    p.add_argument("--val-fraction", type=nonneg_float, default=D.VAL_FRACTION,
                   help=f"fraction of training cases held out to pick the best epoch (default {D.VAL_FRACTION:g}; "
                        "0: last epoch, no early stopping)")
    p.add_argument("--epochs", type=positive_int, default=D.EPOCHS,
                   help=f"maximum epochs; the cosine schedule spans all of them (default {D.EPOCHS})")
    p.add_argument("--lr", type=nonneg_float, default=D.LR, help=f"peak learning rate (default {D.LR:g})")
    p.add_argument("--weight-decay", type=nonneg_float, default=D.WEIGHT_DECAY, help=f"default {D.WEIGHT_DECAY:g}")
    p.add_argument("--grad-clip", type=nonneg_float, default=D.GRAD_CLIP, help=f"default {D.GRAD_CLIP:g}")
    p.add_argument("--optimizer", choices=("adamw", "adam"), default=D.OPTIMIZER,
                   help=f"adamw (decoupled weight decay) or adam (L2 penalty, as Ilse et al. 2018); default {D.OPTIMIZER}")
    p.add_argument("--batch-size", type=positive_int, default=None, help="bags per step (default 1; survival 16)")
    p.add_argument("--max-bag", type=positive_int, default=D.MAX_BAG,
                   help=f"training bags are subsampled to this many patches (default {D.MAX_BAG})")
    p.add_argument("--patience", type=positive_int, default=D.PATIENCE,
                   help="early stopping after this many epochs without a better validation quantity "
                        f"(default {D.PATIENCE}; a value >= --epochs never stops early)")
    p.add_argument("--min-epochs", type=positive_int, default=D.MIN_EPOCHS, metavar="N",
                   help="the best validation epoch is chosen, and early stopping counts, only from the N-th epoch on "
                        f"(default {D.MIN_EPOCHS}; 1: any epoch, including the untrained first one)")
    p.add_argument("--warmup-epochs", type=nonneg_int, default=D.WARMUP_EPOCHS, metavar="W",
                   help=f"linear learning-rate warm-up over W epochs before the cosine decay (default {D.WARMUP_EPOCHS})")
    p.add_argument("--average-epochs", type=positive_int, default=D.AVERAGE_EPOCHS, metavar="K",
                   help="monitor and keep the mean of the last K epochs' weights (weight averaging; "
                        f"default {D.AVERAGE_EPOCHS}: no averaging)")
    p.add_argument("--balanced-sampling", action=argparse.BooleanOptionalAction, default=D.BALANCED_SAMPLING,
                   help="draw training bags with replacement, every class equally likely (classification; "
                        f"default {'on' if D.BALANCED_SAMPLING else 'off'})")
    p.add_argument("--monitor", default="auto", help="validation quantity for the best epoch: loss (default), auc, "
                                                      "accuracy, macro_f1, c_index; regression: mse, mae, r2, pearson, spearman")
    p.add_argument("--standardise", action=argparse.BooleanOptionalAction, default=D.STANDARDISE,
                   help="standardise features with the training fold's instance mean/std, stored in the model "
                        f"(default {'on' if D.STANDARDISE else 'off'})")
    p.add_argument("--hidden", type=positive_int, default=256, help="embedding width H")
    p.add_argument("--attn-hidden", type=positive_int, default=128, help="attention MLP width")
    p.add_argument("--dropout", type=nonneg_float, default=0.25)
    p.add_argument("--host-option", action="append", default=[], metavar="KEY=VALUE",
                   help="host-specific setting, e.g. n_groups=5, attention=nystrom, inst_loss=svm (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT (same settings)")
    add_gce_arguments(p)
    add_explanation_arguments(p)


def _host_options(items: list[str]) -> tuple[tuple[str, object], ...]:
    """``--host-option KEY=VALUE`` items as sorted ``HostConfig.extra`` pairs (checked by the host)."""
    from core.keyvalue import parse_key_values  # local: evident --help loads this module; core.keyvalue only when run

    try:
        return tuple(sorted(parse_key_values(items).items()))
    except ValueError as exc:
        raise EvidentError(None, f"--host-option: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from core.atomic import check_writable_dir  # local: evident --help loads this module; core.atomic only when run
    from core.device import pick_device  # local: evident --help loads this module; core.device only when run
    from core.models.base import HostConfig  # local: evident --help loads this module; torch only when run
    from core.models.registry import HOSTS, build_host  # local: evident --help loads this module; torch only when run
    from core.train.cohort import load_cohort  # local: evident --help loads this module; torch only when run

    # local: evident --help loads this module; torch only when run
    from core.train.cv import CVConfig, run_cv, with_task
    from core.train.objective import default_factory  # local: evident --help loads this module; torch only when run
    from core.train.trainer import TrainConfig  # local: evident --help loads this module; torch only when run

    if args.host not in HOSTS:
        raise EvidentError(None, f"unknown host {args.host!r} (use one of: {', '.join(HOSTS)})")
    if args.dropout >= 1:
        raise EvidentError(None, f"--dropout must be below 1, got {args.dropout}")
    if args.val_fraction >= 1:
        raise EvidentError(None, f"--val-fraction must be below 1, got {args.val_fraction}")
    monitors = ("auto", "loss", "accuracy", "macro_f1", "auc", "c_index", "mse", "rmse", "mae", "r2", "pearson", "spearman")
    if args.monitor not in monitors:
        raise EvidentError(None, f"unknown --monitor {args.monitor!r} (use one of: {', '.join(monitors)})")
    check_writable_dir(args.out)  # an unusable --out is reported before the cohort is read
    device = pick_device(args.device)
    cohort = load_cohort(args.manifest, args.features, args.task)
    host_config = with_task(HostConfig(in_dim=1, n_outputs=1, hidden=args.hidden, attn_hidden=args.attn_hidden,
                                       dropout=args.dropout, extra=_host_options(args.host_option)), cohort)
    build_host(args.host, host_config)  # a bad --host-option fails here, before anything is written
    train_cfg = TrainConfig(epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
                            max_bag=args.max_bag, batch_size=args.batch_size, monitor=args.monitor,
                            patience=args.patience, standardise=args.standardise,
                            optimizer=args.optimizer, warmup_epochs=args.warmup_epochs,
                            average_epochs=args.average_epochs, balanced_sampling=args.balanced_sampling,
                            min_epochs=args.min_epochs)
    factory, extra = gce_factory(args, cohort)
    explained, masks, extra_expl = explanation_factory(args, cohort, factory or default_factory)
    cv = CVConfig(folds=args.folds, repeats=args.repeats, seed=args.seed, val_fraction=args.val_fraction)
    summary = run_cv(cohort, args.host, host_config, args.out, train_cfg, cv, factory=explained,
                     device=device, resume=args.resume, extra_config={**extra, **extra_expl})
    if factory is not None:  # evidence numbers (cd_gap, ...) into results.json
        summary = add_evidence_metrics(args.out, cohort, summary, args.evidence_budget)
    if masks is not None:  # held-out annotation metrics into results.json
        # local: evident --help loads this module; core.train.annotation_masks only when run
        from core.train.annotation_masks import add_annotation_metrics

        summary = add_annotation_metrics(args.out, cohort, summary, masks)
        for name, mean in summary["annotation"]["mean"].items():
            print(f"annotation_{name}\t{'nan' if mean is None else f'{mean:.4f}'}")
    for name, mean in summary["mean"].items():
        std = summary["std"][name]
        print(f"{name}\t{'nan' if mean is None else f'{mean:.4f}'} ± {'nan' if std is None else f'{std:.4f}'}")
    print(f"wrote {args.out}/results.json")
    return 0
