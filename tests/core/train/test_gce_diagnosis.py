"""The GCE diagnosis runner (core.train.gce_diagnosis) on a few real digit bags."""

from __future__ import annotations

import json

import numpy as np

from core.train.gce_diagnosis import VARIANTS, digit_subset, main, run_variant


def test_run_variant_reports_gate_statistics_per_fold():
    bags = digit_subset(12, 2)
    assert {b.fold for b in bags} == {0, 1} and {b.label for b in bags} == {0, 1}
    folds = run_variant(bags, VARIANTS["ground-positive"], epochs=1)
    assert [f["fold"] for f in folds] == [0, 1]
    for f in folds:
        for k in ("gate/nine", "gate/other_pos", "gate/neg", "gate/nine_above_tau", "target/nine"):
            assert 0.0 <= f[k] <= 1.0
        assert f["alpha/l1_diff"] >= 0.0
        assert 0.0 < f["gce/evidence_fraction"] <= 1.0


def test_main_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "diag.json"
    assert main(["--variants", "default", "--bags", "12", "--folds", "2", "--epochs", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data) == ["default"] and len(data["default"]) == 2
    assert np.isfinite(data["default"][0]["gce/cd_gap"])
    assert "| default |" in capsys.readouterr().out
