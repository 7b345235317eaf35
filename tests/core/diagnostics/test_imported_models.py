"""Every explain/audit path runs on a model imported from a peer repository: ``evident explain`` (all
default methods), the intervention engine (keep-only / remove equal real forwards) and ``evident audit``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.cli import main
from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.diagnostics.interventions import InterventionEngine
from core.evidence.evidence_file import read_evidence
from core.models.checkpoint import load_checkpoint
from testkit.audit import digit_cohort
from testkit.explain import bag
from testkit.imported import STATES, import_random

KINDS = tuple(STATES)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one torch thread. On a loaded 2-core machine two threads made one TransMIL forward
    of 16 patches take 1.46 s instead of 8.6 ms (spinning threads), and the audit hit the timeout."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind", KINDS)
def test_explain_every_default_method(tmp_path, kind):
    ckpt = import_random(kind, 10, tmp_path)
    x, c = bag(12, d=10, seed=3)
    f = tmp_path / "s0.h5"
    write_bag(f, FeatureBag(x, c, 256, "s0"))
    assert main(["explain", "--model", str(ckpt), "--features", str(f), "--out", str(tmp_path / "ev"),
                 "--ig-steps", "8", "--device", "cpu"]) == 0
    ev = read_evidence(tmp_path / "ev" / "s0.evidence.h5")
    assert set(ev.scores) >= {"attention", "gradient", "grad_input", "ig", "single", "leave_one_out", "lrp", "random"}
    for name, s in ev.scores.items():
        assert s.shape == (12,) and np.isfinite(s).all(), name
    model, _ = load_checkpoint(ckpt)
    with torch.no_grad():
        out = model(torch.from_numpy(x), torch.from_numpy(c).float())
    np.testing.assert_allclose(ev.scores["attention"], out.attention.numpy(), atol=1e-6)
    np.testing.assert_allclose(ev.probs, torch.softmax(out.output, 0).numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_interventions_equal_real_forwards(tmp_path, kind):
    model, _ = load_checkpoint(import_random(kind, 10, tmp_path))
    x, c = bag(30, d=10, seed=4)
    eng = InterventionEngine(model, x, c)
    keep = np.array([1, 4, 9, 16, 25])
    rest = np.setdiff1d(np.arange(30), keep)
    xt, ct = torch.from_numpy(x), torch.from_numpy(c).float()
    with torch.no_grad():
        want_keep = torch.softmax(model(xt[keep], ct[keep]).output, 0).double().numpy()
        want_rest = torch.softmax(model(xt[rest], ct[rest]).output, 0).double().numpy()
    np.testing.assert_allclose(eng.keep_only(keep).probs_after, want_keep, atol=1e-6)
    np.testing.assert_allclose(eng.remove(keep).probs_after, want_rest, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_audit_report(tmp_path, kind):
    manifest, _, tmp = digit_cohort(tmp_path, ("0", "1"))
    ckpt = import_random(kind, 64, tmp)
    out = tmp / "report"
    fast = kind in ("abmil", "clam_sb", "xmil")  # attention-pooling hosts: the full audit in seconds
    extra = [] if fast else ["--max-slides", "2", "--evidence-guide", "none"]
    assert main(["audit", "--manifest", str(manifest), "--features", str(manifest.parent / "features"), "--model",
                 str(ckpt), "--out", str(out), "--methods", "attention,ig,single,lrp,random", "--minimal-k", "4",
                 *extra]) == 0
    summary = json.loads((out / "cohort.json").read_text())
    assert summary["n_slides"] == (6 if fast else 2) and set(summary["snr"]) >= {"random", "attention", "ig", "single", "lrp"}
