"""Cross-validation splits by case: k folds, stratified, repeated, each with a validation part.

Slides of one case never straddle a split. Folds are stratified by the case's label
(classification: its most common class; survival: its event; regression: not stratified). The
validation cases are carved from the training folds (stratified the same way), never from the test
fold. Everything is drawn from ``numpy.random.SeedSequence([seed, repeat])``, so the splits of one
repeat depend on (seed, repeat) only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.errors import EvidentError

__all__ = ["Split", "cv_splits", "fold_seed"]


@dataclass(frozen=True)
class Split:
    """One (repeat, fold): indices into the cohort's slides, (n,) int64 each, sorted."""

    repeat: int
    fold: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def fold_seed(seed: int, repeat: int, fold: int) -> int:
    """A 32-bit seed of its own for every (seed, repeat, fold) (resuming one fold is exact)."""
    return int(np.random.SeedSequence([seed, repeat, fold]).generate_state(1)[0])


def _case_strata(case_ids: list[str], strata: list[object] | None) -> tuple[list[str], np.ndarray | None]:
    cases = sorted(set(case_ids))
    if strata is None:
        return cases, None
    by_case: dict[str, Counter] = {c: Counter() for c in cases}
    for c, s in zip(case_ids, strata, strict=True):
        by_case[c][s] += 1
    labels = [sorted(by_case[c].items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0] for c in cases]
    return cases, np.asarray([str(x) for x in labels])


def cv_splits(case_ids: list[str], strata: list[object] | None, folds: int, repeats: int, seed: int,
              val_fraction: float = 0.1, source: object = None) -> list[Split]:
    """Repeated k-fold splits of slides by case.

    Parameters
    ----------
    case_ids
        (n_slides,) case of every slide.
    strata
        (n_slides,) stratification label of every slide, or ``None``.
    folds, repeats, seed
        k ≥ 2, R ≥ 1, base seed.
    val_fraction
        Fraction of the training cases held out for validation (0: none; at least one case
        otherwise).
    source
        Named in errors (the manifest).

    Raises
    ------
    EvidentError
        Fewer cases than folds, or a stratum with fewer cases than folds.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split  # local: sklearn only when used

    cases, labels = _case_strata(case_ids, strata)
    if folds < 2 or len(cases) < folds:
        raise EvidentError(source, f"{len(cases)} cases cannot make {folds} folds (need folds ≥ 2 and ≤ cases)")
    if labels is not None:
        counts = Counter(labels.tolist())
        small = {k: v for k, v in counts.items() if v < folds}
        if small:
            raise EvidentError(source, f"too few cases per class for {folds} stratified folds: {small}")
    slides_of = {c: [] for c in cases}
    for i, c in enumerate(case_ids):
        slides_of[c].append(i)

    def slides(case_idx: np.ndarray) -> np.ndarray:
        return np.sort(np.asarray([i for ci in case_idx for i in slides_of[cases[ci]]], dtype=np.int64))

    out = []
    for r in range(repeats):
        rs = int(np.random.SeedSequence([seed, r]).generate_state(1)[0])
        idx = np.arange(len(cases))
        if labels is None:
            splitter = KFold(folds, shuffle=True, random_state=rs).split(idx)
        else:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=rs).split(idx, labels)
        for k, (tr, te) in enumerate(splitter):
            va = np.empty(0, dtype=np.int64)
            if val_fraction > 0 and tr.size > 1:
                n_val = max(1, int(round(val_fraction * tr.size)))
                strat = labels[tr] if labels is not None else None
                if strat is not None and (min(Counter(strat.tolist()).values()) < 2 or n_val < len(set(strat))):
                    strat = None
                tr, va = train_test_split(tr, test_size=n_val, random_state=fold_seed(seed, r, k), stratify=strat)
            out.append(Split(r, k, slides(tr), slides(va), slides(te)))
    return out
