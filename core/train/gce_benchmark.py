"""Cross-validated evidence benchmark: hosts with and without GCE on bags with (or without) known evidence.

Used by :mod:`core.train.gce_reproduce` (``python -m core.train.gce_reproduce``). Protocol
(docs/method.md §3.10 defaults, all configurable): AdamW, lr 2e-4, weight decay 1e-5, gradient clip 5,
cosine schedule, one bag per step, training bags subsampled to ≤ 512 patches, held-out folds scored
on whole bags. GCE uses prototype anchors (k-means, k = M, over the training folds' patches).

Per held-out fold it reports accuracy, AUC, and for each evidence rule — ``gce`` (the recovered
subset), ``attention_matched`` (host attention top-k with k = |S_gce| of the same bag),
``attention`` (top ceil(5% N)) and ``random`` (ceil(5% N), seed 42) — the cohort S/N/R numbers of
:func:`core.diagnostics.cohort_snr.cohort_snr` and, where the truth is known, evidence precision and recall
over positive bags. A GCE fold also records ``gce/k`` (|S_gce| per held-out bag, in bag order); a
host-alone fold given such lists (``matched_k``) adds ``host_k/<name>``: the host-alone model's
attention top-k with each bag's GCE k — the baseline GCE-MIL compares against (same bags, same
budget, the attention of a model trained without the wrapper).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.anchors import exemplar_anchor, prototype_anchors
from core.data.digits import make_digit_bags
from core.data.mil_csv import read_mil_csv, synthetic_grid_coords
from core.data.realdata import fetch
from core.diagnostics.cohort_snr import cohort_snr, evidence_precision_recall, slide_outputs
from core.models.access import bag_output
from core.models.base import HostConfig
from core.models.gce import GCEConfig, build_gce
from core.models.input_norm import fit_all_input_norms
from core.models.subset_rules import attention_order, gce_evidence, random_k, topk_count
from core.train.objective import EpochScheduled

__all__ = ["Bag", "evaluate_fold", "fold_model", "bare_host_objective", "load_dataset", "benchmark_folds",
           "train_fixed_epochs"]


@dataclass(frozen=True, eq=False)
class Bag:
    """features (N, d) float32, coords (N, 2) int64, label int, truth (K,) int64 or None, fold int,
    instance_labels (N,) int64 or None (digit bags: the digit each instance shows)."""

    slide_id: str
    features: np.ndarray
    coords: np.ndarray
    label: int
    truth: np.ndarray | None
    fold: int
    instance_labels: np.ndarray | None = None


def _stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    folds = np.zeros(labels.size, dtype=np.int64)
    for lab in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == lab))
        folds[idx] = np.arange(idx.size) % k
    return folds


def load_dataset(name: str, *, n_folds: int = 5, seed: int = 0) -> list[Bag]:
    """``"digits"`` (100 digit bags, known evidence), ``"musk1"`` or ``"ucsb"`` (real MIL sets)."""
    if name == "digits":
        out = []
        for b in make_digit_bags(100, n_folds=n_folds, seed=seed):
            out.append(Bag(b.slide_id, b.features, synthetic_grid_coords(b.features.shape[0], 8)[0], b.label, b.evidence, b.fold,
                           b.digits))
        return out

    key = {"musk1": "musk1", "ucsb": "ucsb_breast"}[name]
    bags = read_mil_csv(fetch(key))
    classes = sorted({b.label for b in bags}, key=lambda s: float(s))
    labels = np.array([classes.index(b.label) for b in bags])
    folds = _stratified_folds(labels, n_folds, seed)
    feats = np.concatenate([b.features for b in bags])
    mu, sd = feats.mean(0), feats.std(0) + 1e-6  # standardise (statistics of all bags; no labels used)
    return [Bag(f"{name}_{i:03d}", ((b.features - mu) / sd).astype(np.float32),
                synthetic_grid_coords(b.features.shape[0], 8)[0], int(labels[i]), None, int(folds[i])) for i, b in enumerate(bags)]


def bare_host_objective(task: str, task_loss: Callable) -> Callable:
    """Objective of a bare host: task loss plus the host's auxiliary loss."""

    def objective(model, features, coords, target):
        out = model(features, coords)
        loss = task_loss(task, out.output, target)
        aux = model.auxiliary_loss(out, target)
        return (loss if aux is None else loss + aux), out.output

    return objective


def train_fixed_epochs(model, objective: Callable, bags: list[Bag], *, epochs: int = 15, lr: float = 2e-4,
                weight_decay: float = 1e-5, clip: float = 5.0, max_patches: int = 512, seed: int = 0):
    """Train in place for exactly ``epochs`` epochs, one bag per step, no validation split or early
    stopping (the benchmark protocol; :func:`core.train.trainer.train_model` is the CLI trainer);
    calls ``model.set_epoch`` where the model has it."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * len(bags)))
    model.train()
    for epoch in range(epochs):
        if isinstance(model, EpochScheduled):  # GCE gate temperature annealing
            model.set_epoch(epoch, epochs)
        for i in torch.randperm(len(bags), generator=g).tolist():
            b = bags[i]
            x, c = torch.from_numpy(b.features), torch.from_numpy(b.coords)
            if x.shape[0] > max_patches:
                keep = torch.randperm(x.shape[0], generator=g)[:max_patches].sort().values
                x, c = x[keep], c[keep]
            loss, _ = objective(model, x, c, torch.tensor(b.label))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
    return model.eval()


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score  # local: sklearn only when used

    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


@torch.no_grad()
def evaluate_fold(model, bags: list[Bag], *, gce: bool, budget: float = 0.05,
                  matched_k: dict[str, list[int]] | None = None) -> dict:
    """Metrics of one held-out fold (classification); see the module docstring.

    ``matched_k``: ``{name: [k per bag of bags]}`` from GCE runs on the same fold (host alone only).
    """
    matched_k = {} if gce else dict(matched_k or {})
    for name, ks in matched_k.items():
        if len(ks) != len(bags):
            raise ValueError(f"matched_k[{name!r}] has {len(ks)} sizes for {len(bags)} bags")
    rows: dict[str, list] = {"gce": [], "attention_matched": [], "attention": [], "random": []}
    rows.update({f"host_k/{name}": [] for name in matched_k})
    pr: dict[str, list] = {k: [] for k in rows}
    gce_k: list[int] = []
    y, prob = [], []
    stops: list[str] = []
    for i, b in enumerate(bags):
        x, c = torch.from_numpy(b.features), torch.from_numpy(b.coords)
        n = x.shape[0]
        out = bag_output(model, x, c)
        y.append(b.label)
        prob.append(float(torch.softmax(out, -1)[-1]))
        order = attention_order(model, x, c)  # (N,): every attention top-k below, from one forward
        subsets = {"attention": order[:topk_count(n, budget)], "random": random_k(n, topk_count(n, budget))}
        if gce:
            rec, _ = gce_evidence(model, x, c)
            stops.append(rec.stop_reason)
            subsets["gce"] = rec.indices
            subsets["attention_matched"] = order[:rec.indices.size]
            gce_k.append(int(rec.indices.size))
        for name, ks in matched_k.items():
            subsets[f"host_k/{name}"] = order[:int(ks[i])]
        for rule, idx in subsets.items():
            rows[rule].append(slide_outputs(model, x, c, idx))
            if b.truth is not None and b.truth.size:
                pr[rule].append(evidence_precision_recall(idx, b.truth))
    y_arr, p_arr = np.array(y), np.array(prob)
    res = {"accuracy": float(np.mean((p_arr > 0.5) == y_arr)) if p_arr.size else float("nan"), "auc": _auc(y_arr, p_arr)}
    for rule, rr in rows.items():
        if not rr:
            continue
        for k, v in cohort_snr(rr, "classification", labels=y_arr).items():
            res[f"{rule}/{k}"] = v
        if pr[rule]:
            res[f"{rule}/precision"] = float(np.mean([p for p, _ in pr[rule]]))
            res[f"{rule}/recall"] = float(np.mean([r for _, r in pr[rule]]))
    if stops:
        for s in sorted(set(stops)):
            res[f"gce/stop/{s}"] = stops.count(s) / len(stops)
        res["gce/k"] = gce_k
    return res


def exemplar_bank(train: list[Bag], n_picks: int = 5, seed: int = 0):
    """Exemplar anchors for digit bags: "digit k" = mean of ``n_picks`` training instances showing k
    (as a user would pick and name a few patches per concept), for every digit in the training bags."""
    rng = np.random.default_rng(seed)
    feats = np.concatenate([b.features for b in train])
    labels = np.concatenate([b.instance_labels for b in train])
    bank = None
    for k in np.unique(labels):
        pool = np.flatnonzero(labels == k)
        bank = exemplar_anchor(bank, feats, rng.choice(pool, min(n_picks, pool.size), replace=False), f"digit {k}")
    return bank


def fold_model(train: list[Bag], host_name: str, *, gce: bool, build_host: Callable, task_loss: Callable,
               n_classes: int = 2, host_kwargs: dict | None = None, anchors: str = "prototypes",
               n_anchors: int = 8, seed: int = 0, gce_config: dict | None = None) -> tuple[torch.nn.Module, Callable]:
    """The untrained model of one fold and its training objective (classification).

    The host's input standardisation is fitted on the training bags. With ``gce``, the host is
    wrapped with ``anchors``: ``"prototypes"`` (centred k-means, k = ``n_anchors``) or
    ``"exemplars"`` (:func:`exemplar_bank`, centred by the training mean); ``gce_config`` holds
    :class:`GCEConfig` fields. Seed torch before calling for a reproducible initialisation.
    """
    feats = np.concatenate([b.features for b in train])  # (ΣN, d)
    host = build_host(host_name, HostConfig(in_dim=feats.shape[1], n_outputs=n_classes, **(host_kwargs or {})))
    fit_all_input_norms(host, torch.from_numpy(feats))  # the host's stored input standardisation, from the training folds
    if not gce:
        return host, bare_host_objective("classification", task_loss)
    if anchors == "exemplars":
        raw = exemplar_bank(train, seed=seed)
        bank = type(raw)(raw.prompts, raw.embeddings - feats.mean(axis=0), raw.encoder)
    else:
        bank = prototype_anchors(feats, n_anchors, seed=seed, center=True)
    model = build_gce(host, bank.embeddings, GCEConfig(**(gce_config or {})), bank.digest(), bank.prompts,
                      feature_mean=feats.mean(axis=0))
    return model, model.objective("classification", task_loss)


def benchmark_folds(bags: list[Bag], host_name: str, *, gce: bool, build_host: Callable, task_loss: Callable,
           ablation: str = "full", n_anchors: int = 8, epochs: int = 15, lr: float = 2e-4, seed: int = 0,
           host_kwargs: dict | None = None, anchors: str = "prototypes",
           gce_options: dict | None = None, matched_k: dict[str, list[dict]] | None = None) -> list[dict]:
    """Train and evaluate on every fold; returns one metrics dict per fold.

    ``matched_k`` (host alone): ``{name: folds}`` with the fold dicts of a GCE :func:`benchmark_folds` on the
    same bags; each held-out bag is then also scored by the host's attention top-k at that bag's GCE
    k (rule ``host_k/<name>``).

    ``anchors``: ``"prototypes"`` (centred k-means, k = ``n_anchors``) or ``"exemplars"`` (digit bags:
    :func:`exemplar_bank`, centred by the training mean). ``gce_options``: extra
    :class:`GCEConfig` fields (e.g. ``{"ground_on": "positive"}``); default the paper's values.
    """
    n_classes = max(b.label for b in bags) + 1
    results = []
    for fold in sorted({b.fold for b in bags}):
        train = [b for b in bags if b.fold != fold]
        test = [b for b in bags if b.fold == fold]
        torch.manual_seed(seed + fold)
        model, objective = fold_model(train, host_name, gce=gce, build_host=build_host, task_loss=task_loss,
                                      n_classes=n_classes, host_kwargs=host_kwargs, anchors=anchors,
                                      n_anchors=n_anchors, seed=seed,
                                      gce_config={"ablation": ablation, **(gce_options or {})})
        train_fixed_epochs(model, objective, train, epochs=epochs, lr=lr, seed=seed + fold)
        ks = {name: next(f["gce/k"] for f in folds if f["fold"] == fold) for name, folds in (matched_k or {}).items()}
        res = evaluate_fold(model, test, gce=gce, matched_k=ks)
        res["fold"] = fold
        results.append(res)
    return results


def fold_mean_std(folds: list[dict]) -> dict[str, tuple[float, float]]:
    """``{metric: (mean, std)}`` over folds (NaNs ignored)."""
    keys = [k for k in folds[0] if k != "fold" and not isinstance(folds[0][k], list)]
    out = {}
    for k in keys:
        v = np.array([f.get(k, math.nan) for f in folds], dtype=np.float64)
        v = v[~np.isnan(v)]
        out[k] = (float(v.mean()), float(v.std())) if v.size else (math.nan, math.nan)
    return out
