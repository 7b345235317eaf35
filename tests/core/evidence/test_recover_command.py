"""``evident recover``: evidence files per slide, and one-line errors that write nothing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from core.cli import main
from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.evidence.evidence_file import read_evidence
from core.evidence.recovery import STOP_REASONS

D = 10


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_recover_writes_evidence_files(setup, capsys):
    tmp, ckpt, _, bags = setup
    before = [_digest(b) for b in bags]
    out = tmp / "out"
    assert main(["recover", "--model", str(ckpt), "--features", *map(str, bags), "--out", str(out)]) == 0
    assert [_digest(b) for b in bags] == before
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("slide0\t")
    for i, n in enumerate((40, 25)):
        ev = read_evidence(out / f"slide{i}.evidence.h5")
        assert ev.n_patches == n and ev.slide_id == f"slide{i}"
        assert ev.classes == ("neg", "pos") and ev.prompts == ("a", "b", "c") and ev.anchor_digest == "digest123"
        assert ev.probs.shape == (2,) and abs(float(ev.probs.sum()) - 1) < 1e-5
        assert ev.gates.shape == (n,) and ev.responses.shape == (n, 3) and ev.coverage.shape == (3,)
        rec = ev.subsets["recovered"]
        assert rec.stop_reason in STOP_REASONS and rec.indices.size >= 1
        assert set(ev.scores) == {"gate", "attention"}
        assert ev.subsets["attention_topk"].indices.size == rec.indices.size
        assert {"keep_only_drop", "cd_gap", "evidence_fraction"} <= set(ev.snr["recovered"])


def test_recover_options_change_the_subset(setup):
    tmp, ckpt, _, bags = setup
    out = tmp / "capped"
    assert main(["recover", "--model", str(ckpt), "--features", str(bags[0]), "--out", str(out),
                 "--threshold", "0.99", "--coverage-target", "0.999", "--max-size", "2"]) == 0
    rec = read_evidence(out / "slide0.evidence.h5").subsets["recovered"]
    assert rec.indices.size <= 2


@pytest.mark.parametrize("case", ["plain", "missing", "bad_dim", "duplicate"])
def test_recover_errors_write_nothing(setup, capsys, case):
    tmp, ckpt, plain, bags = setup
    out = tmp / "out_err"
    feats = [str(b) for b in bags]
    model = str(ckpt)
    if case == "plain":
        model = str(plain)
    elif case == "missing":
        model = str(tmp / "nope.pt")
    elif case == "bad_dim":
        bad = tmp / "wide.h5"
        write_bag(bad, FeatureBag(np.zeros((5, D + 1), np.float32), np.zeros((5, 2), np.int64), 256, "wide"))
        feats.append(str(bad))
    else:
        feats.append(str(bags[0]))
    assert main(["recover", "--model", model, "--features", *feats, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not out.exists() or not any(out.iterdir())
