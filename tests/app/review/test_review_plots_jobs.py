"""Plots dock (histogram, coverage, curves on the inference thread, exports) and the jobs dialog."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest


@pytest.fixture
def plots(qtbot, demo_project):
    from app.panels.plots import PlotsPanel
    from core.review.session import ReviewSession

    s = ReviewSession()
    s.open([demo_project["slide"], demo_project["features"], demo_project["evidence"]])
    panel = PlotsPanel(s)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    yield panel
    panel.shutdown()
    s.close()


def test_histogram_and_coverage_from_the_session(plots):
    from core.evidence.coverage import coverage

    s = plots.session
    counts = [r["count"] for r in plots.data["gates"]]
    assert sum(counts) == s.bag.n_patches and len(counts) == 20
    assert "bimodality" in plots.plots["gates"].plotItem.titleLabel.text
    cov = [r["coverage"] for r in plots.data["coverage"]]
    np.testing.assert_allclose(cov, coverage(s.gates, s.responses))
    assert [r["anchor"] for r in plots.data["coverage"]] == list(s.prompts)


def test_curves_on_the_inference_thread_and_exports(plots, qtbot, tmp_path):
    from core.diagnostics.curves import slide_curves
    from core.diagnostics.interventions import InterventionEngine
    from core.review.demo import demo_model

    plots.model = demo_model()
    with qtbot.waitSignal(plots.curves_ready, timeout=60000) as sig:
        assert plots.compute_curves() is not None
    result = sig.args[0]
    assert {"attention", "gate", "ig", "random"} <= set(result)
    s = plots.session
    ref = slide_curves(InterventionEngine(plots.model, s.bag.features, s.bag.coords), {"attention": s.layer("attention").values})
    np.testing.assert_allclose(result["attention"]["drop"], ref["attention"]["drop"])
    assert result["attention"]["drop"].size == 101
    assert result["attention"]["aupc_drop"] == pytest.approx(float(ref["attention"]["drop"].mean()))
    assert plots.export_png("curves", tmp_path / "curves.png") and (tmp_path / "curves.png").stat().st_size > 2000
    assert plots.export_csv("curves", tmp_path / "curves.csv")
    rows = list(csv.DictReader((tmp_path / "curves.csv").read_text().splitlines()))
    assert len(rows) == 101 * len(result) and set(rows[0]) == {"method", "percent", "drop", "insert"}
    assert not plots.export_csv("probabilities", tmp_path / "p.csv")  # no intervention yet: nothing to write


def test_probabilities_follow_the_history(plots):
    from core.review.session import InterventionRecord

    plots.session.push_intervention(InterventionRecord("remove", np.array([1, 2]), np.array([0.3, 0.7]),
                                                       np.array([0.6, 0.4]), ("benign", "tumour"), -0.3))
    assert plots.data["probabilities"] == [{"class": "benign", "before": 0.3, "after": 0.6},
                                           {"class": "tumour", "before": 0.7, "after": 0.4}]


def test_build_command():
    from app.dialogs.jobs_dialog import build_command

    assert build_command("train", {"manifest": "m.csv", "host": "abmil", "out": "o", "gce": True, "anchors": "a.h5"}) == [
        "train", "--manifest", "m.csv", "--host", "abmil", "--out", "o", "--gce", "--anchors", "a.h5"]
    assert build_command("audit", {"manifest": "m", "features": "f", "model": "c", "out": "o"})[0] == "audit"
    assert build_command("explain", {"model": "c", "features": "x.h5", "out": "o"}) == [
        "explain", "--model", "c", "--features", "x.h5", "--out", "o"]
    with pytest.raises(ValueError, match="recover needs model"):
        build_command("recover", {"features": "f", "out": "o"})


@pytest.fixture
def jobs(qtbot):
    from app.dialogs.jobs_dialog import JobsDialog
    from core.review.session import ReviewSession

    d = JobsDialog(ReviewSession())
    qtbot.addWidget(d)
    yield d
    d.shutdown()


def test_job_failure_is_logged_with_the_cli_error(jobs, qtbot, tmp_path):
    jobs.kind_box.setCurrentText("train")
    jobs.fields["manifest"].setText(str(tmp_path / "missing.csv"))
    jobs.fields["out"].setText(str(tmp_path / "out"))
    with qtbot.waitSignal(jobs.job_finished, timeout=60000) as sig:
        assert jobs.run_job()
    assert sig.args[0] == "train" and sig.args[1] == 2
    assert "error:" in jobs.log.toPlainText() and "missing.csv" in jobs.log.toPlainText()
    jobs.fields["manifest"].setText("")
    assert not jobs.run_job() and "train needs manifest" in jobs.log.toPlainText()


def test_job_progress_and_cancel(jobs, qtbot):
    code = ("import sys, time\nfor i in (10, 20):\n    sys.stderr.write(f'\\r{i:3d}%|#| {i}/100'); sys.stderr.flush()\n"
            "print('ready', flush=True)\ntime.sleep(60)\n")
    with qtbot.waitSignal(jobs.progress, timeout=30000, check_params_cb=lambda p: p == 20):
        jobs.start([sys.executable, "-c", code], "command")
    assert jobs.bar.value() == 20 and not jobs.run_button.isEnabled()
    with qtbot.waitSignal(jobs.job_finished, timeout=10000) as sig:
        jobs.cancel()
    assert sig.args[1] != 0 and jobs.run_button.isEnabled() and jobs.process is None


def test_explain_job_opens_its_evidence_in_the_session(jobs, demo_project, qtbot, tmp_path):
    import torch

    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    torch.manual_seed(0)
    cfg = HostConfig(in_dim=8, n_outputs=2, hidden=16, attn_hidden=8)
    ckpt = tmp_path / "abmil.pt"
    save_checkpoint(ckpt, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict(),
                                                     "task": "classification", "classes": ["benign", "tumour"]})
    s = jobs.session
    s.open([demo_project["slide"]])
    jobs.kind_box.setCurrentText("explain")
    jobs.fields["model"].setText(str(ckpt))
    jobs.fields["features"].setText(str(demo_project["features"]))
    jobs.fields["out"].setText(str(tmp_path / "explained"))
    with qtbot.waitSignal(jobs.job_finished, timeout=120000) as sig:
        assert jobs.run_job()
    assert sig.args[:2] == ["explain", 0], jobs.log.toPlainText()
    assert jobs.bar.value() == 100
    assert s.bag is not None and "attention" in [x.name for x in s.layers]  # the new evidence file is open
    assert str(s.files.evidence).startswith(str(tmp_path / "explained"))
