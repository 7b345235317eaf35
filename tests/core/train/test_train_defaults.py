"""``evident train``'s defaults: one place (core.train.defaults), and the setting the grid chose (docs/default_grid.json)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from core.cli import build_parser
from core.train.cv import CVConfig
from core.train.default_grid import GRID, choose, resolve
from core.train.trainer import TrainConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "default_grid.json"


def _defaults():
    return build_parser().parse_args(["train", "--manifest", "m.csv", "--host", "abmil", "--out", "o"])


def test_cli_train_config_and_cv_config_share_their_defaults() -> None:
    args, cfg = _defaults(), TrainConfig()
    for f in fields(TrainConfig):
        if f.name not in ("batch_size", "monitor"):
            assert getattr(args, f.name) == getattr(cfg, f.name), f.name
    assert args.val_fraction == CVConfig().val_fraction


def test_defaults_are_the_setting_the_grid_chose() -> None:
    grid = json.loads(DOC.read_text())
    chosen = next(s for s in GRID if s.name == grid["chosen"])
    cfg = TrainConfig()
    assert (cfg.lr, cfg.epochs, cfg.patience, cfg.standardise, cfg.min_epochs) == (
        chosen.lr, chosen.epochs, chosen.patience, chosen.standardise, chosen.min_epochs)
    # the documented grid is the full one: every setting on every data set, with and without GCE
    assert {r["setting"] for r in grid["rows"]} == {s.name for s in GRID}
    assert {"digits/abmil", "digits/abmil+gce", "musk1/abmil", "musk1/abmil+gce", "ucsb_breast/abmil",
            "ucsb_breast/abmil+gce"} == set(grid["best"])
    # the recorded decision is the third pass's rule applied to the recorded rows (not typed in by hand)
    assert choose(grid["rows"])["chosen"] == grid["chosen_5x1"]
    replaced = grid["resolved"]["replaced"]
    repeated = [r for r in grid["resolved"]["rows"] if r["combo"] in replaced]
    assert replaced == ["ucsb_breast/abmil", "ucsb_breast/abmil+gce"]
    assert all(len(r["fold_accuracy"]) == 15 for r in repeated)
    assert resolve(grid["rows"], repeated)["chosen"] == grid["chosen"]


def test_standardisation_can_be_switched_off_and_on() -> None:
    base = ["train", "--manifest", "m.csv", "--host", "abmil", "--out", "o"]
    assert build_parser().parse_args([*base, "--no-standardise"]).standardise is False
    assert build_parser().parse_args([*base, "--standardise"]).standardise is True


def test_default_gce_preset_is_the_one_the_held_out_comparison_chose() -> None:
    from core.train import defaults
    from core.train.gce_preset_compare import choose_preset

    doc = json.loads((DOC.parent / "gce_preset.json").read_text())
    assert _defaults().gce_preset == defaults.GCE_PRESET == doc["chosen"]
    # the recorded decision is the rule applied to the recorded rows (not typed in by hand)
    assert choose_preset(doc["rows"], doc["base"], doc["candidate"])["chosen"] == doc["chosen"]
    assert {r["dataset"] for r in doc["rows"]} >= {"musk1", "ucsb_breast"} and len({r["host"] for r in doc["rows"]}) == 2
