"""``evident train --gce``: GCE checkpoints per fold and evidence numbers in results.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main
from core.data.anchors import AnchorBank, write_anchor_bank
from core.data.digits import make_digit_bags, write_digit_bags
from core.models.checkpoint import load_checkpoint
from core.models.gce import GCEModel
from core.train.gce_cv import EVIDENCE_KEYS

SMALL = ["--folds", "2", "--epochs", "1", "--hidden", "8", "--attn-hidden", "8", "--val-fraction", "0"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    return write_digit_bags(root, make_digit_bags(12, max_size=40, n_folds=2))



def _train(digits, out, *flags: str) -> int:
    """``evident train`` on the digit bags with gated ABMIL and the small settings, plus ``flags``."""
    return main(["train", "--manifest", str(digits), "--host", "abmil", "--out", str(out), *SMALL, *flags])

def test_train_gce_prototypes(digits, tmp_path):
    out = tmp_path / "run"
    assert _train(digits, out, "--gce", "--anchors", "prototypes:3") == 0
    res = json.loads((out / "results.json").read_text())
    for k in EVIDENCE_KEYS:
        assert k in res["mean"] and k in res["std"] and f"attention_topk/{k}" in res["mean"]
    assert 0 < res["mean"]["evidence_fraction"] <= 1 and res["mean"]["cd_gap"] >= 0
    assert len(res["evidence_folds"]) == 2
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gce"] == {"anchors": "prototypes:3", "ablation": "full", "anchor_digest": "per-fold prototypes"}
    model, mcfg = load_checkpoint(out / "fold_0_0" / "model.pt")
    assert isinstance(model, GCEModel) and model.n_anchors == 3 and mcfg["gce"]["anchor_dim"] == 64
    assert len(mcfg["gce"]["anchor_digest"]) == 64


def test_train_gce_bank_file_and_ablation(digits, tmp_path):
    bank = AnchorBank(("a", "b"), np.random.default_rng(0).standard_normal((2, 5)), "test")
    write_anchor_bank(tmp_path / "bank.npz", bank)
    out = tmp_path / "run"
    assert main(["train", "--manifest", str(digits), "--host", "transmil", "--out", str(out), *SMALL,
                 "--gce", "--anchors", str(tmp_path / "bank.npz"), "--ablation", "budget"]) == 0
    model, mcfg = load_checkpoint(out / "fold_0_1" / "model.pt")
    assert model.anchor_digest == bank.digest() and model.config.ablation == "budget"
    assert mcfg["gce"]["anchor_dim"] == 5 and model.prompts == ("a", "b")
    res = json.loads((out / "results.json").read_text())
    assert "threshold_only" not in json.dumps(res) and "cd_gap" in res["mean"]


@pytest.mark.parametrize("anchors", ["prototypes:0", "missing.h5"])
def test_train_gce_bad_anchors_write_nothing(digits, tmp_path, capsys, anchors):
    out = tmp_path / "run"
    assert _train(digits, out, "--gce", "--anchors", str(tmp_path / anchors) if anchors.endswith(".h5") else anchors) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not out.exists()


def test_train_without_gce_has_no_evidence_keys(digits, tmp_path):
    out = tmp_path / "plain"
    assert _train(digits, out) == 0
    res = json.loads((out / "results.json").read_text())
    assert "cd_gap" not in res["mean"] and "evidence_folds" not in res


def test_train_gce_options_reach_the_checkpoint(digits, tmp_path):
    out = tmp_path / "run"
    assert _train(digits, out, "--gce", "--anchors", "prototypes:3", "--gce-option", "coverage_loss=contrastive",
                  "--gce-option", "recovery_weight=1") == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gce"]["options"] == {"coverage_loss": "contrastive", "recovery_weight": 1}
    model, _ = load_checkpoint(out / "fold_0_0" / "model.pt")
    assert model.config.coverage_loss == "contrastive" and model.config.recovery_weight == 1.0


@pytest.mark.parametrize("option", ["coverage_loss=other", "no_such_field=1", "recovery_weight", "ablation=naive"])
def test_train_gce_bad_option_is_one_error_and_writes_nothing(digits, tmp_path, capsys, option):
    out = tmp_path / "run"
    assert _train(digits, out, "--gce", "--gce-option", option) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--gce-option" in err[0]
    assert not out.exists()


def test_train_gce_preset_recoverable_and_an_option_over_it(digits, tmp_path):
    out = tmp_path / "run"
    assert _train(digits, out, "--gce", "--anchors", "prototypes:3", "--gce-preset", "recoverable",
                  "--gce-option", "recovery_weight=0.5") == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gce"]["preset"] == "recoverable"
    assert cfg["gce"]["options"] == {"coverage_loss": "contrastive", "recovery_weight": 0.5}
    model, _ = load_checkpoint(out / "fold_0_0" / "model.pt")
    assert model.config.coverage_loss == "contrastive" and model.config.recovery_weight == 0.5


def test_train_gce_preset_paper_is_the_spec_config(digits, tmp_path):
    from core.models.gce_config import GCEConfig

    out = tmp_path / "run"
    assert _train(digits, out, "--gce", "--anchors", "prototypes:3", "--gce-preset", "paper") == 0
    cfg = json.loads((out / "config.json").read_text())
    assert "preset" not in cfg["gce"] and "options" not in cfg["gce"]
    model, _ = load_checkpoint(out / "fold_0_0" / "model.pt")
    assert model.config.coverage_loss == GCEConfig().coverage_loss and model.config.recovery_weight == GCEConfig().recovery_weight
