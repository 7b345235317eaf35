"""``evident train --gce``: the GCE model factory and the evidence numbers added to results.json.

Flags (added to ``evident train`` by :func:`add_gce_arguments`):

* ``--gce`` wrap the host with GCE (:func:`core.models.gce.build_gce`);
* ``--anchors SPEC`` ``FILE`` (anchor bank) or ``prototypes:M`` (default ``prototypes:8``): k-means
  over the training fold's patches, **[decision]** centred (the bridge's bias starts at ``−μ``), since
  uncentred prototypes of all-positive features respond to every patch; or ``text:PROMPTS`` with
  ``--text-encoder NAME|PATH``: the prompt set embedded by an open_clip text tower, cached, refused
  when its width differs from the features' (:mod:`core.anchors.text`, docs/bring_your_own.md);
* ``--ablation NAME`` one of :data:`core.models.gce_config.ABLATIONS` (default ``full``);
* ``--evidence-budget F`` fraction for the attention top-k comparison (default 0.05);
* ``--gce-preset NAME`` a named set of :class:`core.models.gce_config.GCEConfig` fields
  (:data:`GCE_PRESETS`): ``paper`` (the values of docs/method.md) or ``recoverable``
  (``coverage_loss=contrastive``, ``recovery_weight=1``: the options under which the selected evidence
  can be recovered, docs/results_gce.md); the default is :data:`core.train.defaults.GCE_PRESET`, chosen
  on held-out draws by :mod:`core.train.gce_preset_compare` (docs/results_gce.md, "Default GCE preset");
* ``--gce-option KEY=VALUE`` (repeatable) a :class:`core.models.gce_config.GCEConfig` field over the
  preset's value, e.g. ``coverage_loss=contrastive``, ``recovery_weight=1`` (docs/results_gce.md).

After cross-validation, :func:`add_evidence_metrics` loads each fold's checkpoint, recovers the
evidence of its test slides, and adds to ``results.json`` (``mean``/``std`` over folds, and per fold
under ``evidence_folds``): ``cd_gap``, ``complement_degradation``, ``evidence_sufficiency``,
``keep_only_drop``, ``evidence_fraction`` (docs/method.md §5, :func:`core.diagnostics.cohort_snr.cohort_snr`), and
the same for host-attention top-k at the same size (prefix ``attention_topk/``) and at
``--evidence-budget`` (prefix ``attention_budget/``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from core.errors import EvidentError
from core.train.defaults import GCE_PRESET

__all__ = ["EVIDENCE_KEYS", "GCE_PRESETS", "add_evidence_metrics", "add_gce_arguments", "gce_factory"]

#: ``--gce-preset`` name -> GCEConfig fields over the paper's values (``--gce-option`` overrides them).
GCE_PRESETS: dict[str, dict[str, object]] = {
    "paper": {},
    "recoverable": {"coverage_loss": "contrastive", "recovery_weight": 1.0},
}

EVIDENCE_KEYS = ("cd_gap", "complement_degradation", "evidence_sufficiency", "keep_only_drop", "evidence_fraction")


def add_gce_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--gce``, ``--anchors``, ``--ablation``, ``--evidence-budget``."""
    # local: evident --help loads this module; core.models.gce_config only when run
    from core.models.gce_config import ABLATIONS

    g = p.add_argument_group("GCE (grounded coverage-driven evidence)")
    g.add_argument("--gce", action="store_true", help="wrap the host with GCE-MIL")
    g.add_argument("--anchors", default="prototypes:8", metavar="SPEC",
                   help="anchor bank file (.h5/.npz), prototypes:M (default prototypes:8) or text:PROMPTS "
                        "(a prompt-set JSON or a family of resources/prompts/, embedded with --text-encoder)")
    g.add_argument("--text-encoder", default=None, metavar="NAME|PATH",
                   help="for --anchors text:...: an open_clip CLIP/CoCa model folder (open_clip_config.json + "
                        "weights) or hf-hub:ORG/REPO from the local Hugging Face cache (docs/bring_your_own.md)")
    g.add_argument("--ablation", default="full", choices=list(ABLATIONS), help="GCE ablation (default full)")
    g.add_argument("--evidence-budget", type=float, default=0.05, metavar="F",
                   help="fraction of each bag for the attention top-k comparison (default 0.05)")
    g.add_argument("--gce-preset", default=GCE_PRESET, choices=list(GCE_PRESETS),
                   help="paper (docs/method.md's values) or recoverable (coverage_loss=contrastive, recovery_weight=1); "
                        f"default {GCE_PRESET}, chosen on held-out draws (docs/results_gce.md, 'Default GCE preset')")
    g.add_argument("--gce-option", action="append", default=[], metavar="KEY=VALUE",
                   help="GCEConfig field over the preset's value, e.g. coverage_loss=contrastive or "
                        "recovery_weight=1 (repeatable)")


def gce_factory(args: argparse.Namespace, cohort):
    """``(factory, extra_config)`` for ``--gce``, else ``(None, {})``.

    Raises
    ------
    EvidentError
        Bad ``--anchors`` (missing file, bad bank, bad ``prototypes:M``).
    """
    if not getattr(args, "gce", False):
        return None, {}
    from core.anchors import parse_anchor_spec  # local: evident --help loads this module; core.anchors only when run

    # local: evident --help loads this module; core.data.anchors only when run
    from core.data.anchors import read_anchor_bank

    spec = parse_anchor_spec(args.anchors)
    if not 0.0 < args.evidence_budget <= 1.0:
        raise EvidentError(None, f"--evidence-budget must lie in (0, 1], got {args.evidence_budget}")
    from core.keyvalue import parse_key_values  # local: evident --help loads this module; core.keyvalue only when run

    # local: evident --help loads this module; core.models.gce_config only when run
    from core.models.gce_config import GCEConfig

    options = {}
    try:
        preset = getattr(args, "gce_preset", GCE_PRESET)
        options = {**GCE_PRESETS[preset], **parse_key_values(getattr(args, "gce_option", None) or [])}
        if "ablation" in options:
            raise ValueError("set the ablation with --ablation")
        GCEConfig(ablation=args.ablation, **options)
    except (TypeError, ValueError) as exc:
        raise EvidentError(None, f"--gce-option: {exc}") from None
    text_encoder = getattr(args, "text_encoder", None)
    if spec.kind == "text":
        if not text_encoder:
            raise EvidentError(None, "--anchors text:... needs --text-encoder NAME|PATH")
        from core.anchors.text import check_anchor_width, text_anchor_bank  # local: open_clip only when run

        bank, bank_file = text_anchor_bank(spec.path, text_encoder)
        check_anchor_width(bank, bank_file, cohort.feature_dim)
    elif text_encoder:
        raise EvidentError(None, "--text-encoder applies to --anchors text:PROMPTS only")
    else:
        bank = read_anchor_bank(spec.path) if spec.kind == "file" else None
    extra = {"gce": {"anchors": str(args.anchors), "ablation": args.ablation,
                     **({"text_encoder": bank.encoder, "anchor_bank": str(bank_file)} if spec.kind == "text" else {}),
                     **({"preset": preset} if preset != "paper" else {}), **({"options": options} if options else {}),
                     "anchor_digest": bank.digest() if bank is not None else "per-fold prototypes"}}

    def factory(host_name, host_config, train_bags):
        # local: evident --help loads this module; core.anchors only when run
        from core.anchors import prototype_anchors
        from core.models.gce import GCEConfig, build_gce  # local: evident --help loads this module; torch only when run
        from core.models.registry import build_host  # local: evident --help loads this module; torch only when run

        host = build_host(host_name, host_config)
        mean = None
        b = bank
        if b is None:
            feats = np.concatenate([t.features.numpy() for t in train_bags])
            b = prototype_anchors(feats, spec.m, center=True)
            mean = feats.mean(axis=0)
        model = build_gce(host, b.embeddings, GCEConfig(ablation=args.ablation, **options), b.digest(), b.prompts, feature_mean=mean)
        return model, model.objective(host_config.task)

    return factory, extra


def _fold_evidence(model, bags, task: str, budget: float) -> dict:
    import torch  # local: evident --help loads this module; torch only when run

    # local: evident --help loads this module; torch only when run
    from core.diagnostics.cohort_snr import cohort_snr, slide_outputs
    from core.models.access import is_gce_model  # local: evident --help loads this module; torch only when run

    # local: evident --help loads this module; torch only when run
    from core.models.subset_rules import attention_topk, gce_evidence, topk_count

    rows: dict[str, list] = {"": [], "attention_topk/": [], "attention_budget/": []}
    with torch.no_grad():
        for b in bags:
            x, c = b.features, b.coords
            n = x.shape[0]
            idx = gce_evidence(model, x, c)[0].indices if is_gce_model(model) else attention_topk(model, x, c, topk_count(n, budget))
            rows[""].append(slide_outputs(model, x, c, idx))
            if model.host(x, c).attention is not None:
                rows["attention_topk/"].append(slide_outputs(model, x, c, attention_topk(model, x, c, idx.size)))
                rows["attention_budget/"].append(slide_outputs(model, x, c, attention_topk(model, x, c, topk_count(n, budget))))
    if task == "classification":
        kw = {"labels": [int(b.target) for b in bags]}
    else:
        t = np.stack([b.target.numpy().reshape(-1)[:2] for b in bags])
        kw = {"time": t[:, 0], "event": t[:, 1]}
    out = {}
    for prefix, rr in rows.items():
        if rr:
            res = cohort_snr(rr, task, **kw)
            out.update({f"{prefix}{k}": res[k] for k in EVIDENCE_KEYS})
    return out


def add_evidence_metrics(out: str | Path, cohort, summary: dict, budget: float = 0.05) -> dict:
    """Add the evidence numbers of every fold to ``OUT/results.json`` (rewritten atomically).

    Returns
    -------
    dict
        The updated summary.
    """
    from core.atomic import atomic_write_json  # local: evident --help loads this module; core.atomic only when run
    from core.train.folds import finished_folds  # local: evident --help loads this module; torch only when run

    out = Path(out)
    by_id = {b.slide_id: b for b in cohort.bags}
    per_fold = []
    for rec, model in finished_folds(out):
        test = [by_id[p["slide_id"]] for p in rec["predictions"]]
        per_fold.append({"repeat": rec["repeat"], "fold": rec["fold"], **_fold_evidence(model, test, cohort.task, budget)})
    summary = dict(summary)
    summary["evidence_folds"] = per_fold
    mean, std = dict(summary.get("mean", {})), dict(summary.get("std", {}))
    for k in sorted({k for f in per_fold for k in f if k not in ("repeat", "fold")}):
        v = np.array([f.get(k, math.nan) for f in per_fold], dtype=np.float64)
        v = v[~np.isnan(v)]
        mean[k] = float(v.mean()) if v.size else None
        std[k] = float(v.std()) if v.size else None
    summary["mean"], summary["std"] = mean, std
    atomic_write_json(out / "results.json", summary)
    return summary
