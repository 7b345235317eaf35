"""``evident demo``: the whole review pipeline on the demo cohort, each stage cached.

Stages (each calls the project's own code in-process; see :mod:`core.demo.stages`):

1. ``cohort``   build the virtual slides from real CMU-1 tissue (:mod:`core.demo.cohort`);
2. ``extract``  ``evident extract`` with the built-in stain/texture encoder;
3. ``train``    ``evident train --host abmil`` (gated attention) by k-fold cross-validation;
4. ``train_gce``  the same with ``--gce --anchors prototypes:M``;
5. ``recover``  ``evident recover`` of every slide with the GCE model of the fold that held it out;
6. ``explain``  ``evident explain`` (attention, IG, single, leave-one-out, LRP, GCE gate and subset)
   into the same evidence files, with the same out-of-fold models;
7. ``audit``    ``evident audit`` over the evidence files;
8. ``summary``  accuracy with / without GCE, C-D gap, evidence precision against the known truth
   (written to ``WS/summary.json``).

Workspace layout: ``cohort/``, ``features/``, ``models/abmil``, ``models/gce``, ``evidence/``,
``audit/``, ``logs/``, ``.stages/``, ``summary.json``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.atomic import ensure_writable_dir
from core.demo.audit_merge import audit_by_fold
from core.demo.cohort import CohortConfig, build_cohort
from core.demo.opening import demo_view_files, oof_models
from core.demo.stages import CommandRunner, StageRunner
from core.demo.summary import summarise_demo

__all__ = ["DemoConfig", "DemoRun", "default_workspace", "run_demo"]

_EXPLAIN_METHODS = ("attention", "ig", "single", "leave_one_out", "lrp")
_GCE_METHODS = ("gce_gate", "gce_subset")


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo (small and fast on a CPU; every field is part of the stage cache keys)."""

    cohort: CohortConfig = field(default_factory=CohortConfig)
    folds: int = 4
    epochs: int = 20
    hidden: int = 64
    attn_hidden: int = 32
    lr: float = 1e-3
    seed: int = 0
    anchors: int = 8
    workers: int = 2


@dataclass
class DemoRun:
    """The outcome of :func:`run_demo`: stage results, the summary and the files to open."""

    workspace: Path
    stages: dict
    summary: dict
    view_files: list[Path]


def default_workspace() -> Path:
    """``~/.cache/evident/demo``."""
    return Path.home() / ".cache" / "evident" / "demo"


def _features(ws: Path, ids) -> dict[str, Path]:
    found = {p.stem: p for p in sorted((ws / "features").rglob("*.h5"))}
    return {i: found[i] for i in ids if i in found}


def _oof_models(model_dir: Path) -> dict[str, Path]:
    """slide id -> the checkpoint of the fold that held the slide out (:func:`core.demo.opening.oof_models`)."""
    return oof_models(model_dir)


def _by_model(slides: dict[str, Path], models: dict[str, Path]) -> dict[Path, list[Path]]:
    groups: dict[Path, list[Path]] = {}
    for sid, feat in slides.items():
        if sid in models:
            groups.setdefault(models[sid], []).append(feat)
    return groups


def run_demo(run_command: CommandRunner, workspace: str | os.PathLike | None = None,
             config: DemoConfig = DemoConfig(), *, rebuild: bool = False, echo=print) -> DemoRun:
    """Run (or reuse) every stage of the demo in ``workspace`` (default :func:`default_workspace`).

    ``run_command`` runs an ``evident`` sub-command in process (:func:`core.demo.stages.command_runner`
    over :func:`core.commands.build_parser`; the ``evident demo`` command passes it).

    Raises
    ------
    core.errors.EvidentError
        From any stage (bad workspace, unreadable data); finished stages stay cached.
    """
    ws = ensure_writable_dir(workspace or default_workspace())
    runner = StageRunner(ws, rebuild=rebuild, echo=echo)
    t0 = time.perf_counter()
    echo("[cohort] virtual slides from real CMU-1 tissue ...")
    cohort = build_cohort(ws / "cohort", config.cohort, rebuild=rebuild)  # caches itself
    runner.record("cohort", "done" if cohort.rebuilt else "cached",
                  params={"cohort": (ws / "cohort" / "cohort.json").read_text(encoding="utf-8")},
                  seconds=time.perf_counter() - t0, detail=f"{len(cohort.slide_ids)} slides in {cohort.root}")
    ids = list(cohort.slide_ids)

    def extract():
        run_command(["extract", "--out", ws / "features", "--encoder", "builtin", "--read-threads", config.workers,
                     *[cohort.slide_path(i) for i in ids]], runner.log("extract"))

    runner.run("extract", "patch features (built-in stain/texture encoder)", extract, params={}, deps=["cohort"],
               outputs=lambda: len(_features(ws, ids)) == len(ids))
    feats = _features(ws, ids)
    feat_dir = next(iter(feats.values())).parent if feats else ws / "features"

    def train_args(out: Path) -> list:
        # --resume: an interrupted run continues from its finished folds (the stage runner has checked
        # that OUT holds work of this very stage, or emptied it under --rebuild)
        return ["train", "--manifest", cohort.manifest, "--features", feat_dir, "--host", "abmil", "--out", out,
                "--folds", config.folds, "--epochs", config.epochs, "--seed", config.seed, "--val-fraction", 0,
                "--hidden", config.hidden, "--attn-hidden", config.attn_hidden, "--lr", config.lr,
                "--standardise", "--device", "cpu", "--resume"]

    tparams = {k: v for k, v in asdict(config).items() if k != "cohort"}
    abmil_dir, gce_dir = ws / "models" / "abmil", ws / "models" / "gce"
    runner.run("train", "gated ABMIL, k-fold cross-validation", lambda: run_command(
        train_args(abmil_dir), runner.log("train")), params=tparams, deps=["extract"],
        outputs=lambda: (abmil_dir / "results.json").exists(), resumable=abmil_dir)
    runner.run("train_gce", "gated ABMIL + GCE, k-fold cross-validation", lambda: run_command(
        [*train_args(gce_dir), "--gce", "--anchors", f"prototypes:{config.anchors}"],
        runner.log("train_gce")), params=tparams, deps=["extract"],
        outputs=lambda: (gce_dir / "results.json").exists(), resumable=gce_dir)

    ev_dir = ws / "evidence"

    def recover():
        for model, group in _by_model(feats, _oof_models(ws / "models" / "gce")).items():
            run_command(["recover", "--model", model, "--features", *group, "--out", ev_dir, "--device", "cpu"],
                        runner.log("recover"))

    def evidence_complete() -> bool:
        return all((ev_dir / f"{i}.evidence.h5").exists() for i in ids)

    runner.run("recover", "GCE evidence subsets (threshold + repair)", recover, deps=["train_gce"],
               outputs=evidence_complete)
    explain_model = "gce"  # every stage either ran or raised: the GCE model and its evidence exist

    def explain():
        methods = list(_EXPLAIN_METHODS) + list(_GCE_METHODS)
        for model, group in _by_model(feats, _oof_models(ws / "models" / explain_model)).items():
            run_command(["explain", "--model", model, "--features", *group, "--out", ev_dir,
                         "--methods", ",".join(methods), "--device", "cpu"], runner.log("explain"))
        return f"explained the {explain_model} model"

    runner.run("explain", "explanations into the evidence files", explain,
               params={"model": explain_model}, deps=["train", "recover"], outputs=evidence_complete)

    def audit():
        return audit_by_fold(run_command, ws, cohort, feat_dir, _oof_models(ws / "models" / explain_model),
                             list(_EXPLAIN_METHODS), runner.log("audit"))

    runner.run("audit", "failure audit (per fold, merged for the cohort browser)", audit,
               params={"model": explain_model, "columns": "annotations_path,checkpoint_path"}, deps=["explain"],
               outputs=lambda: (ws / "audit" / "per_slide.csv").exists())

    summary = summarise_demo(ws, cohort, runner.results)
    echo("[summary] done")
    view = _view_files(ws, cohort, feats, explain_model)
    return DemoRun(workspace=ws, stages=dict(runner.results), summary=summary, view_files=view)


def _view_files(ws: Path, cohort, feats: dict[str, Path], model_name: str) -> list[Path]:
    """What the viewer opens: the first positive slide with its features, evidence, truth annotation
    and out-of-fold model (for live re-prediction), plus the audit folder (the cohort browser);
    :func:`core.demo.opening.demo_view_files`."""
    ids = list(cohort.slide_ids)
    sid = next((i for i in ids if cohort.labels[i] == "positive"), ids[0])
    return demo_view_files(ws, sid, model_name)
