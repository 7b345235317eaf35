"""``python -m core.train.default_grid``: the grid behind ``evident train``'s defaults (docs/results_hosts.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.train.default_grid import CANDIDATES, FIRST_GRID, GRID, choose, main


def _row(combo: str, setting: str, acc: float) -> dict:
    return {"combo": combo, "setting": setting, "flags": setting, "accuracy": acc, "accuracy_std": 0.0,
            "auc": acc, "auc_std": 0.0}


def test_choose_minimises_the_worst_shortfall_not_the_mean() -> None:
    # "peaky" is best on two data sets but 0.10 short on the third; "even" is never more than 0.03 short
    rows = [_row("a", "peaky", 0.99), _row("b", "peaky", 0.95), _row("c", "peaky", 0.70),
            _row("a", "even", 0.96), _row("b", "even", 0.93), _row("c", "even", 0.78),
            _row("a", "slow", 0.90), _row("b", "slow", 0.90), _row("c", "slow", 0.80)]
    pick = choose(rows)
    assert pick["best"] == {"a": 0.99, "b": 0.95, "c": 0.80}
    assert pick["worst"]["peaky"] == pytest.approx(0.10) and pick["worst"]["even"] == pytest.approx(0.03)
    assert pick["chosen"] == "even"
    assert pick["shortfall"]["slow"]["c"] == 0.0


def test_choose_breaks_ties_within_the_resolution_by_the_mean_shortfall() -> None:
    # worst shortfalls 0.050 and 0.055 are one tie (tie=0.02); "close" is nearer the best on average
    rows = [_row("a", "edge", 0.95), _row("b", "edge", 0.90), _row("c", "edge", 0.85),
            _row("a", "close", 1.00), _row("b", "close", 0.845), _row("c", "close", 0.90)]
    pick = choose(rows)
    assert pick["worst"]["edge"] == pytest.approx(0.05) and pick["worst"]["close"] == pytest.approx(0.055)
    assert pick["mean"]["close"] < pick["mean"]["edge"] and pick["chosen"] == "close"
    assert choose(rows, tie=0.0)["chosen"] == "edge"


def test_grid_covers_lr_schedule_and_standardisation() -> None:
    assert {s.lr for s in GRID} == {2e-4, 1e-3} and {s.standardise for s in GRID} == {False, True}
    assert {(s.epochs, s.patience) for s in GRID} == {(15, None), (50, 10)}
    assert len({s.name for s in GRID}) == len(GRID) == 8
    # the third pass: the first pass's settings with the floor on the kept epoch, under new names
    assert [s.name + "_min5" for s in FIRST_GRID] == [s.name for s in GRID]
    assert [replace(s, min_epochs=1) for s in GRID] == list(FIRST_GRID)
    off = ["--warmup-epochs", "0", "--average-epochs", "1", "--min-epochs", "5", "--no-balanced-sampling"]
    assert GRID[-1].flags() == ["--lr", "0.001", "--epochs", "50", "--patience", "10", "--standardise", *off]
    # "off" is explicit: the default is on, so omitting the flag would standardise
    assert GRID[0].flags() == ["--lr", "0.0002", "--epochs", "15", "--no-standardise", *off]


def test_candidates_add_one_training_option_each_to_the_grid_names() -> None:
    names = [c.name for c in CANDIDATES]
    assert names == ["lr0.001_ep15_std_avg5", "lr0.001_ep15_std_wu2", "lr0.001_ep50p10_std_wu2_avg5",
                     "lr0.001_ep15_std_bal"]
    assert not set(names) & {g.name for g in GRID}  # run folders never collide with the grid's
    f = CANDIDATES[2].flags()
    assert f[f.index("--warmup-epochs") + 1] == "2" and f[f.index("--average-epochs") + 1] == "5"
    assert "--balanced-sampling" in CANDIDATES[3].flags()


def test_quick_grid_runs_evident_train_and_writes_the_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "grid"
    assert main(["--out", str(out), "--datasets", "digits", "--gce-on", "digits", "--quick"]) == 0
    grid = json.loads((out / "grid.json").read_text())
    assert {r["combo"] for r in grid["rows"]} == {"digits/abmil", "digits/abmil+gce"}
    for r in grid["rows"]:  # each row is the run folder's own results.json
        res = json.loads((out / "runs" / r["combo"].replace("/", "_") / r["setting"] / "results.json").read_text())
        assert r["accuracy"] == res["mean"]["accuracy"] and len(res["folds"]) == 2
        cfg = json.loads((out / "runs" / r["combo"].replace("/", "_") / r["setting"] / "config.json").read_text())
        assert f"--lr {cfg['train']['lr']:g}" in r["flags"] and ("gce" in cfg) == r["combo"].endswith("+gce")
    assert min(d for s in grid["shortfall"].values() for d in s.values()) == 0.0
    md = (out / "grid.md").read_text()
    assert md.count("**chosen**") == 1 and grid["chosen"] in capsys.readouterr().out
    # a rerun resumes the finished runs and gives the same table
    assert main(["--out", str(out), "--datasets", "digits", "--gce-on", "digits", "--quick"]) == 0
    assert (out / "grid.md").read_text() == md


def test_unknown_dataset_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "g"), "--datasets", "mnist"])
    assert "unknown data set(s): mnist" in capsys.readouterr().err


def test_resolve_reruns_the_tie_on_the_repeated_combos_only() -> None:
    from core.train.default_grid import resolve, tied_settings

    # 5 x 1: "raw" wins on the noisy combo c and so ties with "std" on the worst shortfall; "slow" is out
    rows = [_row("a", "raw", 0.90), _row("b", "raw", 0.84), _row("c", "raw", 0.83),
            _row("a", "std", 0.90), _row("b", "std", 0.89), _row("c", "std", 0.76),
            _row("a", "slow", 0.70), _row("b", "slow", 0.70), _row("c", "slow", 0.70)]
    pick = choose(rows)
    assert tied_settings(pick) == ["raw", "std"] and pick["chosen"] == "raw"
    # 5 x 3 on c: the difference there was noise
    repeated = [_row("c", "raw", 0.75), _row("c", "std", 0.75)]
    res = resolve(rows, repeated)
    assert res["tied"] == ["raw", "std"] and res["replaced"] == ["c"] and res["chosen"] == "std"
    assert set(res["worst"]) == {"raw", "std"}  # only the tied settings are compared again
    with pytest.raises(ValueError, match="c std"):
        resolve(rows, repeated[:1])
