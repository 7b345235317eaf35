"""Low necessity is not a failure of a slide predicted as the negative class of a binary task (by default)."""

from __future__ import annotations

import csv

import pytest

from core.cli import main
from core.data.digits import make_digit_bags, write_digit_bags
from core.diagnostics.failures import FailureThresholds, classify_failures, necessity_applies
from core.models.checkpoint import save_checkpoint
from testkit.explain import abmil


def _low_n(predicted, n_classes, which="default"):
    return classify_failures(correct=True, complement_degradation=0.0, predicted=predicted, n_classes=n_classes,
                             thresholds=FailureThresholds(necessity_classes=which))["low_necessity"]


def test_taxonomy_option():
    assert not _low_n(0, 2) and _low_n(1, 2)  # default: binary negative class skipped
    assert _low_n(0, 2, "all") and _low_n(1, 2, "all")
    assert all(_low_n(k, 3) for k in range(3))  # multi-class: every class judged
    assert _low_n(None, None)  # survival: always judged
    assert _low_n(0, 2, (0,)) and not _low_n(1, 2, (0,))
    assert not classify_failures(correct=True, complement_degradation=0.5, predicted=1, n_classes=2)["low_necessity"]
    assert necessity_applies(2, 3, "default") and not necessity_applies(2, 3, (0, 1))
    with pytest.raises(ValueError, match="necessity_classes"):
        necessity_applies(0, 2, "positive")


@pytest.fixture
def cohort(tmp_path):
    """A digit cohort and two untrained binary models: one predicts every slide 0, the other every slide 1."""
    manifest = write_digit_bags(tmp_path / "digits", make_digit_bags(6, seed=2, min_size=12, max_size=20))
    ckpts = {}
    for seed in (1, 2):
        host = abmil(d=64, c=2, hidden=8, seed=seed)
        ckpts[seed] = tmp_path / f"m{seed}.pt"
        save_checkpoint(ckpts[seed], host, {"host": "abmil", "host_config": host.config.to_dict(),
                                            "task": "classification", "classes": ["0", "1"]})
    return manifest, ckpts, tmp_path


def _rows(manifest, ckpt, out, *extra):
    args = ["audit", "--manifest", str(manifest), "--features", str(manifest.parent / "features"), "--model", str(ckpt),
            "--out", str(out), "--methods", "attention,random", "--minimal-k", "",
            "--fraction", "0.01", *extra]  # 1 patch of 12-20: a tiny complement degradation everywhere
    assert main(args) == 0
    return list(csv.DictReader((out / "per_slide.csv").read_text(encoding="utf-8").splitlines()))


def test_audit_option_both_settings(cohort, capsys):
    manifest, ckpts, tmp = cohort
    low = lambda r: float(r["complement_degradation_attention"]) < 0.05
    flagged = lambda rows: [int(r["fail_low_necessity"]) for r in rows]
    neg_default = _rows(manifest, ckpts[1], tmp / "neg_default")
    neg_all = _rows(manifest, ckpts[1], tmp / "neg_all", "--necessity-classes", "all")
    assert {r["predicted"] for r in neg_all} == {"0"} and sum(map(low, neg_all)) >= 4
    assert flagged(neg_all) == [int(low(r)) for r in neg_all]
    assert flagged(neg_default) == [0] * len(neg_default)  # negative slides: no low-N flag by default
    assert flagged(_rows(manifest, ckpts[1], tmp / "neg_0", "--necessity-classes", "0")) == flagged(neg_all)
    pos_default = _rows(manifest, ckpts[2], tmp / "pos_default")
    assert {r["predicted"] for r in pos_default} == {"1"} and sum(map(low, pos_default)) >= 4
    assert flagged(pos_default) == [int(low(r)) for r in pos_default]  # the positive class is judged
    capsys.readouterr()
    args = ["audit", "--manifest", str(manifest), "--features", str(manifest.parent / "features"), "--model",
            str(ckpts[1]), "--out", str(tmp / "bad"), "--necessity-classes", "tumour"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown class 'tumour'" in err[0] and not (tmp / "bad").exists()
    for opt, value, msg in (("--min-tissue", "1.5", "--min-tissue must lie in [0, 1]"),
                            ("--artifact-share", "-0.1", "--artifact-share must lie in [0, 1]")):
        assert main([*args[:-2], opt, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0] and not (tmp / "bad").exists()
