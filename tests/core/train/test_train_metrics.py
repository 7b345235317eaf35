"""Metrics: Harrell's C-index against a brute-force pair count; AUC / F1 / accuracy basics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.train.metrics import auc, c_index, classification_metrics, macro_f1, task_metrics


def brute_c_index(t, e, r) -> float:
    num = den = 0.0
    for i in range(len(t)):
        for j in range(len(t)):
            if e[i] == 1 and t[i] < t[j]:
                den += 1
                num += 1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0
    return num / den


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_c_index_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 8, size=40).astype(float)  # many tied times
    e = rng.integers(0, 2, size=40)
    r = rng.integers(0, 5, size=40).astype(float)  # many tied risks
    assert c_index(t, e, r, chunk=7) == pytest.approx(brute_c_index(t, e, r), abs=1e-12)


def test_c_index_extremes_and_undefined() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    e = np.ones(4)
    assert c_index(t, e, -t) == 1.0
    assert c_index(t, e, t) == 0.0
    assert math.isnan(c_index(t, np.zeros(4), t))


def test_classification_metrics() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[.8, .1, .1], [.4, .5, .1], [.1, .8, .1], [.2, .7, .1], [.1, .1, .8], [.3, .3, .4]])
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(5 / 6)
    # class 0: P=1 R=.5 F=2/3; class 1: P=2/3 R=1 F=.8; class 2: F=1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)
    assert 0.5 < m["auc"] <= 1.0
    assert macro_f1(np.array([0, 0]), np.array([0, 0]), 3) == pytest.approx(1 / 3)
    assert math.isnan(auc(np.array([1, 1]), np.array([[.2, .8], [.6, .4]])))
    assert auc(np.array([0, 1]), np.array([[.9, .1], [.2, .8]])) == 1.0


def test_task_metrics_from_logits() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    m = task_metrics("classification", np.array([0, 1, 1]), logits)
    assert m["accuracy"] == pytest.approx(2 / 3)
    s = task_metrics("survival", np.array([[1.0, 1], [2.0, 1], [3.0, 0]]), np.array([[3.0], [2.0], [1.0]]))
    assert s == {"c_index": 1.0}
