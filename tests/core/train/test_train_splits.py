"""Cross-validation splits: by case, stratified, validation carved from training, deterministic."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.errors import EvidentError
from core.train.splits import cv_splits, fold_seed


def _cohort():
    rng = np.random.default_rng(0)
    cases, labels = [], []
    for c in range(40):
        label = "pos" if c % 3 == 0 else "neg"
        for _ in range(int(rng.integers(1, 4))):  # 1–3 slides per case
            cases.append(f"case{c}")
            labels.append(label)
    return cases, labels


def test_folds_partition_slides_by_case() -> None:
    cases, labels = _cohort()
    splits = cv_splits(cases, labels, folds=5, repeats=2, seed=7, val_fraction=0.2)
    assert len(splits) == 10
    for r in range(2):
        tests = np.concatenate([s.test for s in splits if s.repeat == r])
        assert sorted(tests.tolist()) == list(range(len(cases)))  # every slide tested exactly once
    for s in splits:
        parts = [set(np.asarray(cases)[idx]) for idx in (s.train, s.val, s.test)]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(s.train) + len(s.val) + len(s.test) == len(cases)
        assert len(s.val) > 0


def test_folds_are_stratified() -> None:
    cases, labels = _cohort()
    case_label = dict(zip(cases, labels))
    for s in cv_splits(cases, labels, folds=5, repeats=1, seed=0, val_fraction=0):
        test_cases = {cases[i] for i in s.test}
        n_pos = Counter(case_label[c] for c in test_cases)["pos"]
        assert n_pos in (2, 3)  # 14 positive cases over 5 folds


def test_splits_are_deterministic_and_repeats_differ() -> None:
    cases, labels = _cohort()
    a = cv_splits(cases, labels, 5, 2, seed=3)
    b = cv_splits(cases, labels, 5, 2, seed=3)
    assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val) for x, y in zip(a, b))
    assert not np.array_equal(a[0].test, a[5].test)
    assert fold_seed(3, 0, 1) != fold_seed(3, 1, 0)


def test_bad_split_settings() -> None:
    with pytest.raises(EvidentError, match="3 cases cannot make 5 folds"):
        cv_splits(["a", "b", "c"], None, 5, 1, 0)
    with pytest.raises(EvidentError, match="too few cases per class"):
        cv_splits([f"c{i}" for i in range(10)], ["x"] * 8 + ["y"] * 2, 5, 1, 0, source="m.csv")
