"""Paired fold differences and the shortfall intervals of the default-settings grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from core.train.default_grid import choose
from core.train.paired_folds import interval_table, paired_difference, shortfall_intervals


def test_pairing_removes_the_fold_difficulty() -> None:
    hard = np.array([0.5, 0.9, 0.6, 1.0, 0.7] * 3)  # fold difficulty varies a lot
    a, b = hard + 0.05, hard  # a is always 0.05 better
    d = paired_difference(a, b, folds=5)
    assert d["mean"] == pytest.approx(0.05) and d["sd"] == pytest.approx(0.0, abs=1e-12)
    assert d["lo"] == pytest.approx(0.05) and d["hi"] == pytest.approx(0.05)


def test_corrected_interval_is_wider_than_the_naive_one_by_the_overlap_term() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.6, 1.0, 15), rng.uniform(0.6, 1.0, 15)
    d = paired_difference(a, b, folds=5)
    diff = a - b
    t = stats.t.ppf(0.975, 14)
    assert d["hi_naive"] - d["mean"] == pytest.approx(t * diff.std(ddof=1) / math.sqrt(15))
    assert d["hi"] - d["mean"] == pytest.approx(t * diff.std(ddof=1) * math.sqrt(1 / 15 + 1 / 4))
    with pytest.raises(ValueError, match="length"):
        paired_difference(a, b[:3], folds=5)


def test_shortfall_intervals_pair_each_setting_with_the_combos_best() -> None:
    def row(setting, folds):
        return {"combo": "ucsb/abmil", "setting": setting, "accuracy": float(np.mean(folds)), "folds": 5,
                "fold_accuracy": list(folds)}

    rows = [row("good", [0.9, 0.8, 0.7, 1.0, 0.6, 0.9]), row("worse", [0.8, 0.8, 0.6, 0.9, 0.6, 0.8])]
    iv = shortfall_intervals(rows, choose(rows)["best"])["ucsb/abmil"]
    assert iv["best_setting"] == "good"
    assert iv["shortfall"]["worse"]["mean"] == pytest.approx(0.4 / 6)
    assert iv["shortfall"]["good"]["mean"] == 0.0
    table = interval_table({"ucsb/abmil": iv})
    assert "| ucsb/abmil | good | worse | 0.067 |" in table and "| good | good |" not in table
