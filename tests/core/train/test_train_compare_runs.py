"""core.train.compare_runs: paired per-fold differences between CV runs."""

from __future__ import annotations

import json
import math

import pytest

from core.errors import EvidentError
from core.train.compare_runs import fold_metrics, main, paired


def _run(path, values):
    path.mkdir()
    folds = [{"repeat": r, "fold": f, "metrics": {"auc": v}} for (r, f), v in values.items()]
    (path / "results.json").write_text(json.dumps({"folds": folds}), encoding="utf-8")
    return path


def test_paired_difference_and_standard_error(tmp_path):
    a = _run(tmp_path / "a", {(0, 0): 0.5, (0, 1): 0.7, (1, 0): 0.6})
    b = _run(tmp_path / "b", {(0, 0): 0.6, (0, 1): 0.7, (1, 0): 0.9, (1, 1): 1.0})  # (1, 1) not shared
    r = paired(fold_metrics(a, "auc"), fold_metrics(b, "auc"))
    diffs = [0.1, 0.0, 0.3]
    mean = sum(diffs) / 3
    se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 3) / math.sqrt(3)
    assert r["n"] == 3 and r["diff"] == pytest.approx(mean) and r["diff_se"] == pytest.approx(se)
    assert main(["--metric", "auc", str(a), str(b)]) == 0


def test_bad_runs_are_one_clear_error(tmp_path, capsys):
    with pytest.raises(EvidentError, match="no results.json"):
        fold_metrics(tmp_path, "auc")
    bad = _run(tmp_path / "bad", {(0, 0): 0.5})
    with pytest.raises(EvidentError, match="'c_index' per fold"):
        fold_metrics(bad, "c_index")
    assert main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
