"""``evident explain`` and ``evident recover`` writing the same evidence file keep each other's work."""

from __future__ import annotations

import numpy as np
import pytest

from core.cli import main
from core.evidence.evidence_file import read_evidence


def _explain(ckpt, bags, out):
    return main(["explain", "--features", *map(str, bags), "--model", str(ckpt), "--out", str(out), "--methods", "attention,random"])


def _recover(ckpt, bags, out):
    return main(["recover", "--features", *map(str, bags), "--model", str(ckpt), "--out", str(out)])


@pytest.mark.parametrize("order", ["explain-then-recover", "recover-then-explain"])
def test_both_commands_results_survive_in_any_order(setup, capsys, order):  # noqa: F811
    tmp, ckpt, _, bags = setup
    out = tmp / "out"
    first, second = (_explain, _recover) if order.startswith("explain") else (_recover, _explain)
    assert first(ckpt, bags, out) == 0
    assert second(ckpt, bags, out) == 0
    for b in bags:
        ev = read_evidence(out / f"{b.stem}.evidence.h5")
        assert {"attention", "random"} <= set(ev.scores), ev.scores.keys()
        assert ev.gates is not None and "recovered" in ev.subsets
        assert ev.gates.shape == (ev.n_patches,) and np.isfinite(ev.scores["attention"]).all()


def test_evidence_of_another_model_is_refused_not_overwritten(setup, capsys):  # noqa: F811
    tmp, ckpt, plain, bags = setup
    out = tmp / "out"
    assert _explain(plain, bags, out) == 0
    target = out / f"{bags[0].stem}.evidence.h5"
    before = target.read_bytes()
    capsys.readouterr()
    assert _recover(ckpt, bags, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {target}: holds evidence of model"), err
    assert target.read_bytes() == before
