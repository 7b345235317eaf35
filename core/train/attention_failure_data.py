"""Digit bags where attention is poor evidence and the truth is known (docs/results_explain.md §9).

Instances are the real 8×8 handwritten digits of :mod:`core.data.digits` (64 pixels / 16, in
[0, 1]); every bag holds ``min_size``–``max_size`` instances, half of the bags are positive, folds
are stratified by label. Three scenarios, each with a labelling rule :func:`bag_label` over the
instance types (digit 0–9, or :data:`ARTEFACT` for a pen-mark-like patch):

``redundant``
    positive iff a 9 is present; every positive bag holds ``3``–``6`` nines, each sufficient alone,
    so removing a few of them (attention's top-k) changes nothing. Truth: every 9.
``conjunctive``
    positive iff a 3 **and** a 7 are present (1–3 of each); negative bags hold only 3s, only 7s or
    neither (a third each). Truth: the 3s and 7s of positive bags; ``truth_groups`` = (3s, 7s).
``shortcut``
    positive iff a 9 is present (1–3 nines). Training variant: every positive bag also holds 1–2
    pen marks (:func:`pen_mark`), no negative bag does; test variant: pen marks in a random half of
    the bags, independent of the label. Truth: the 9s. A test bag is a *shortcut bag* when it
    holds a pen mark but is negative, or holds none but is positive.

:func:`make_scenario` returns ``(train_variant, test_variant)``: two lists of
:class:`ScenarioBag` with the same ids, labels and folds (the same list twice, except for
``shortcut``). A model of fold f trains on ``train_variant`` bags with fold ≠ f and is scored on
``test_variant`` bags with fold f.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.train.gce_benchmark import Bag

__all__ = ["ARTEFACT", "SCENARIOS", "ScenarioBag", "artefact_scores", "bag_label", "make_scenario", "pen_mark"]

SCENARIOS = ("redundant", "conjunctive", "shortcut")
ARTEFACT = 10  #: instance type of a pen mark


@dataclass(frozen=True, eq=False)
class ScenarioBag:
    """One bag: ``bag`` (:class:`core.train.gce_benchmark.Bag`; ``instance_labels`` (N,) int64 the
    instance types), ``truth_groups`` (tuple of (K_j,) int64 index arrays, one per evidence type the
    label needs; empty for negative bags), ``shortcut`` (True on a test bag whose pen marks disagree
    with its label), ``regions`` (one (K_r,) int64 index array per separate evidence region; empty
    for digit bags), ``artifact_scores`` ((N,) float64 the audit's artifact score, ``None``: use
    :func:`artefact_scores` of the features)."""

    bag: Bag
    truth_groups: tuple[np.ndarray, ...]
    shortcut: bool = False
    regions: tuple[np.ndarray, ...] = ()
    artifact_scores: np.ndarray | None = None


def bag_label(scenario: str, types: np.ndarray) -> int:
    """The labelling rule of ``scenario`` on (N,) instance types: 1 or 0 (pen marks never count)."""
    t = set(np.asarray(types).tolist())
    if scenario == "conjunctive":
        return int(3 in t and 7 in t)
    if scenario in ("redundant", "shortcut"):
        return int(9 in t)
    raise ValueError(f"unknown scenario {scenario!r} (use one of {', '.join(SCENARIOS)})")


def pen_mark(rng: np.random.Generator) -> np.ndarray:
    """(64,) float32 pen-mark-like patch: a random rectangle covering ≥ 75 % of the 8×8 square at
    0.9–1.0 (ink saturation no real digit reaches: their saturated share is ≤ 0.29)."""
    img = np.zeros((8, 8), dtype=np.float32)
    h, w = int(rng.integers(7, 9)), int(rng.integers(7, 9))
    r, c = int(rng.integers(0, 9 - h)), int(rng.integers(0, 9 - w))
    img[r:r + h, c:c + w] = rng.uniform(0.9, 1.0, size=(h, w))
    return img.reshape(-1)


def artefact_scores(features: np.ndarray) -> np.ndarray:
    """(N, 64) digit features -> (N,) artifact score in [0, 1]: the share of saturated pixels
    (≥ 0.9), the digit analogue of ``1 − tissue fraction`` (:mod:`core.diagnostics.artifacts`)."""
    return (np.asarray(features) >= 0.9).mean(axis=1)


def _counts(scenario: str, positive: bool, rng: np.random.Generator) -> dict[int, int]:
    """How many instances of each evidence type the bag gets."""
    if scenario == "redundant":
        return {9: int(rng.integers(3, 7))} if positive else {}
    if scenario == "shortcut":
        return {9: int(rng.integers(1, 4))} if positive else {}
    if positive:
        return {3: int(rng.integers(1, 4)), 7: int(rng.integers(1, 4))}
    kind = int(rng.integers(0, 3))  # only 3s, only 7s, neither
    return {3: int(rng.integers(1, 4))} if kind == 0 else {7: int(rng.integers(1, 4))} if kind == 1 else {}


def make_scenario(scenario: str, n_bags: int = 60, *, min_size: int = 20, max_size: int = 40, n_folds: int = 5,
                  seed: int = 0) -> tuple[list[ScenarioBag], list[ScenarioBag]]:
    """``(train_variant, test_variant)`` of ``n_bags`` bags (module docstring); deterministic in ``seed``."""
    from core.data.digits import balanced_labels_and_folds, digit_images
    from core.data.mil_csv import synthetic_grid_coords as grid_coords

    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} (use one of {', '.join(SCENARIOS)})")
    x, y = digit_images()
    special = {"redundant": (9,), "shortcut": (9,), "conjunctive": (3, 7)}[scenario]
    filler = np.flatnonzero(~np.isin(y, special))
    rng = np.random.default_rng(seed)
    labels, folds = balanced_labels_and_folds(n_bags, n_folds, rng)
    train, test = [], []
    for b in range(n_bags):
        n = int(rng.integers(min_size, max_size + 1))
        counts = _counts(scenario, bool(labels[b]), rng)
        members = [rng.choice(np.flatnonzero(y == d), k, replace=False) for d, k in counts.items()]
        members.append(rng.choice(filler, n - sum(counts.values()), replace=False))
        members = np.concatenate(members)
        feats, types = x[members], y[members]
        if scenario != "shortcut":
            one = _bag(scenario, b, feats, types, folds[b], rng, grid_coords)
            train.append(one)
            test.append(one)
            continue
        n_marks = int(rng.integers(1, 3))
        marks = np.stack([pen_mark(rng) for _ in range(n_marks)])
        with_marks_test = bool(rng.random() < 0.5)
        for variant, has_marks in ((train, bool(labels[b])), (test, with_marks_test)):
            f = np.concatenate([feats, marks]) if has_marks else feats
            t = np.concatenate([types, np.full(n_marks, ARTEFACT)]) if has_marks else types
            variant.append(_bag(scenario, b, f, t, folds[b], rng, grid_coords,
                                shortcut=variant is test and has_marks != bool(labels[b])))
    return train, test


def _bag(scenario, b, feats, types, fold, rng, grid_coords, shortcut: bool = False) -> ScenarioBag:
    """Shuffle one bag's instances and wrap it (truth recomputed from the shuffled types)."""
    perm = rng.permutation(types.size)
    feats, types = feats[perm], types[perm]
    label = bag_label(scenario, types)
    needed = (3, 7) if scenario == "conjunctive" else (9,)
    groups = tuple(np.flatnonzero(types == d).astype(np.int64) for d in needed) if label else ()
    truth = np.sort(np.concatenate(groups)) if groups else np.zeros(0, dtype=np.int64)
    bag = Bag(f"{scenario}_{b:03d}", feats, grid_coords(types.size, 8)[0], label, truth, int(fold), types)
    return ScenarioBag(bag, groups, shortcut)
