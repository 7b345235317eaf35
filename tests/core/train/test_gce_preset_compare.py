"""``python -m core.train.gce_preset_compare``: the held-out rule behind the default ``--gce-preset``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.train.gce_preset_compare import choose_preset, main


def _row(dataset: str, preset: str, acc: float, cd: float, keep: float = 0.0, compl: float = 0.2) -> dict:
    return {"dataset": dataset, "host": "abmil", "preset": preset, "accuracy": acc, "cd_gap": cd,
            "keep_only_drop": keep, "complement_degradation": compl}


def test_candidate_wins_with_better_evidence_at_no_accuracy_cost() -> None:
    rows = [_row("a", "paper", 0.90, 0.30), _row("a", "recoverable", 0.89, 0.01),
            _row("b", "paper", 0.80, 0.20), _row("b", "recoverable", 0.80, 0.02),
            _row("c", "paper", 0.95, 0.01), _row("c", "recoverable", 0.95, 0.03)]
    pick = choose_preset(rows)
    assert pick["n"] == 3 and pick["cd_wins"] == 2
    assert pick["mean_diff"]["cd_gap"] == pytest.approx((-0.29 - 0.18 + 0.02) / 3)
    assert pick["no_accuracy_cost"] and pick["better_evidence"] and pick["chosen"] == "recoverable"


def test_an_accuracy_drop_in_one_setting_keeps_the_base() -> None:
    rows = [_row("a", "paper", 0.90, 0.30), _row("a", "recoverable", 0.84, 0.01),  # −0.06 > 0.05
            _row("b", "paper", 0.80, 0.20), _row("b", "recoverable", 0.82, 0.02),
            _row("c", "paper", 0.95, 0.10), _row("c", "recoverable", 0.96, 0.03)]
    pick = choose_preset(rows)
    assert pick["mean_diff"]["accuracy"] > -0.02  # the mean alone would pass
    assert not pick["no_accuracy_cost"] and pick["better_evidence"] and pick["chosen"] == "paper"


def test_a_lower_gap_bought_with_less_necessary_evidence_keeps_the_base() -> None:
    rows = [_row("a", "paper", 0.9, 0.30, compl=0.40), _row("a", "recoverable", 0.9, 0.01, compl=0.10),
            _row("b", "paper", 0.9, 0.30, compl=0.40), _row("b", "recoverable", 0.9, 0.01, compl=0.40)]
    pick = choose_preset(rows)
    assert pick["cd_wins"] == 2 and pick["mean_diff"]["complement_degradation"] == pytest.approx(-0.15)
    assert not pick["better_evidence"] and pick["chosen"] == "paper"


def test_quick_comparison_runs_evident_train_with_each_preset(tmp_path: Path, capsys) -> None:
    out = tmp_path / "presets"
    assert main(["--out", str(out), "--datasets", "digits", "--hosts", "abmil", "--quick"]) == 0
    doc = json.loads((out / "presets.json").read_text())
    assert [r["preset"] for r in doc["rows"]] == ["paper", "recoverable"] and doc["n"] == 1
    for r in doc["rows"]:  # each row is its run's results.json, trained with that preset and seed 1
        run = out / "runs" / "digits_abmil" / r["preset"]
        res, cfg = json.loads((run / "results.json").read_text()), json.loads((run / "config.json").read_text())
        assert r["cd_gap"] == res["mean"]["cd_gap"] and cfg["cv"]["seed"] == 1
        assert cfg["gce"].get("preset", "paper") == r["preset"]
    assert (out / "data" / "digits_s7" / "manifest.csv").is_file()  # a draw no preset was chosen on
    assert doc["chosen"] in capsys.readouterr().out and (out / "presets.md").read_text().count("| digits |") == 2


def test_merge_applies_the_rule_to_the_rows_of_several_invocations(tmp_path: Path, capsys) -> None:
    # one invocation per host; alone each would choose the candidate, together the gap is lower in 2 of 4
    a = [_row("a", "paper", 0.9, 0.30), _row("a", "recoverable", 0.9, 0.01)]
    b = [{**r, "host": "clam_sb"} for r in (_row("a", "paper", 0.9, 0.01), _row("a", "recoverable", 0.9, 0.05))]
    c = [_row("b", "paper", 0.9, 0.02), _row("b", "recoverable", 0.9, 0.03)]
    from core.train.gce_preset_compare import PRESET_METRICS

    def full(rows):  # as run_presets writes them: every metric with its std
        return [{**{k: 0.5 for k in PRESET_METRICS}, **{f"{k}_std": 0.0 for k in PRESET_METRICS}, **r} for r in rows]

    a, b, c = full(a), full(b), full(c)
    for name, rows in (("abmil", a + c), ("clam", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "presets.json").write_text(json.dumps({"rows": rows}))
    assert main(["--out", str(tmp_path / "m"), "--merge", str(tmp_path / "abmil"), str(tmp_path / "clam")]) == 0
    doc = json.loads((tmp_path / "m" / "presets.json").read_text())
    assert len(doc["rows"]) == 6 and doc["n"] == 3 and doc["cd_wins"] == 1
    assert doc["chosen"] == choose_preset(a + b + c)["chosen"] == "paper"
    assert not list((tmp_path / "m").glob("runs"))  # nothing trained
