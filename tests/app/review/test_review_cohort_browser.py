"""The cohort browser: load an audit folder, sort, filter, open a slide, step through failures."""

from __future__ import annotations

import json
import math

import pytest
from PySide6.QtCore import Qt


@pytest.fixture
def audit_folder(tmp_path, demo_project):
    """An audit folder whose slide s2 is the real demo project (the others name missing files)."""
    p = demo_project
    rows = [
        "slide_id,label,prediction,prob_benign,prob_tumour,keep_only_drop,complement_degradation,case_failure,low_necessity,severe,slide_path,features_path,evidence_path",
        "s1,tumour,tumour,0.1,0.9,0.02,0.40,0,0,0,,,",
        f"s2,benign,tumour,0.3,0.7,0.30,0.01,1,1,1,{p['slide']},{p['features']},{p['evidence']}",
        "s3,benign,benign,0.8,0.2,,0.20,0,1,0,,,",
        "s4,tumour,tumour,0.05,0.95,0.01,0.50,0,0,0,gone/s4.svs,,",
    ]
    (tmp_path / "slides.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "cohort.json").write_text(json.dumps({"model": {"digest": "0" * 64}}))
    return tmp_path


@pytest.fixture
def browser(qtbot):
    from app.panels.cohort_browser import CohortBrowser
    from core.review.session import ReviewSession

    s = ReviewSession()
    b = CohortBrowser(s)
    qtbot.addWidget(b)
    b.resize(1000, 400)
    b.show()
    yield b
    b.shutdown()
    s.close()


def _column(b, name):
    return [b.proxy.index(r, b.model.columns.index(name)).data() for r in range(b.proxy.rowCount())]


def test_load_sort_filter(browser, audit_folder, qtbot):
    with qtbot.waitSignal(browser.loaded) as sig:
        browser.load(audit_folder)
    assert sig.args == [4]
    assert "4 slides" in browser.status.text() and "s4" in browser.status.text() and "missing" in browser.status.text()
    col = browser.model.columns.index("keep_only_drop")
    browser.table.sortByColumn(col, Qt.SortOrder.AscendingOrder)
    assert _column(browser, "slide") == ["s4", "s1", "s2", "s3"]  # NaN last
    browser.table.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    assert _column(browser, "slide") == ["s2", "s1", "s4", "s3"]  # NaN still last
    browser.failures.setChecked(True)
    assert sorted(_column(browser, "slide")) == ["s2", "s3"]
    browser.flag_boxes["case_failure"].setChecked(True)
    assert _column(browser, "slide") == ["s2"]
    browser.failures.setChecked(False)
    browser.flag_boxes["case_failure"].setChecked(False)
    browser.search.setText("BENIGN")
    assert sorted(_column(browser, "slide")) == ["s2", "s3"]
    assert _column(browser, "severe") == ["✔", ""] or _column(browser, "severe") == ["", "✔"]


def test_open_slide_and_step_failures(browser, audit_folder, qtbot):
    browser.load(audit_folder)
    s = browser.session
    said = []
    s.message.connect(lambda level, text: said.append(text))
    with qtbot.waitSignal(browser.opened) as sig:
        pos = browser.step_failure(1)
    assert pos == 1, s.messages  # s2: the first failure in file order
    assert sig.args == ["s2"] and s.slide is not None and s.bag is not None and "attention" in [x.name for x in s.layers]
    pos = browser.step_failure(1)  # s3: a failure whose files the audit does not name -> clear message
    assert browser._source_row(pos).slide_id == "s3"
    assert browser.step_failure(1) == 1  # wraps around to s2
    assert browser.step_failure(-1) == 2  # and back to s3
    assert any("s3" in text and "names no file" in text for text in said)
    assert not browser.open_row(0)  # s1 has no files either


def test_bad_folder_and_model_mismatch(browser, audit_folder, tmp_path, demo_project):
    assert browser.load(tmp_path / "nowhere") is None
    assert "not a folder" in browser.status.text()
    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    ckpt = tmp_path / "model.pt"  # a real checkpoint: the session refuses files that are not one
    cfg = HostConfig(in_dim=8, n_outputs=2, hidden=16, attn_hidden=8)
    save_checkpoint(ckpt, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict(),
                                                     "task": "classification", "classes": ["benign", "tumour"]})
    browser.session.open([demo_project["slide"], demo_project["features"], ckpt])
    assert browser.session.files.checkpoint == ckpt
    cohort = browser.load(audit_folder)
    assert cohort is not None and "different model" in browser.status.text()
    assert math.isnan(cohort.rows[2].numbers["keep_only_drop"])


def test_compute_cohort_on_the_inference_thread(browser, demo_project, qtbot, tmp_path):
    import torch

    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    torch.manual_seed(0)
    cfg = HostConfig(in_dim=8, n_outputs=2, hidden=16, attn_hidden=8)
    ckpt = tmp_path / "abmil.pt"
    save_checkpoint(ckpt, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict(),
                                                     "task": "classification", "classes": ["benign", "tumour"]})
    stem = demo_project["features"].stem
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"slide_id,case_id,label,slide_path\n{stem},c1,tumour,{demo_project['slide']}\nlost,c2,benign,\n")
    steps = []
    browser.progressed.connect(lambda i, n, sid: steps.append((i, n, sid)))
    with qtbot.waitSignal(browser.loaded, timeout=60000) as sig:
        assert browser.compute(manifest, demo_project["features"].parent, ckpt) is not None
    assert sig.args == [1] and steps[-1][:2] == (2, 2) and not browser.progress.isVisible()
    assert "lost" in browser.status.text() and browser.model.cohort.rows[0].label == "tumour"
    with qtbot.waitSignal(browser.opened, timeout=10000):
        assert browser.open_row(0)
    assert browser.session.bag is not None and browser.session.files.stem == stem
    # cancel: a job cancelled before it starts reports "cancelled" and leaves the table alone
    browser.thread.submit(lambda cancel: None)
    with qtbot.waitSignal(browser.thread.cancelled_job, timeout=30000):
        jid = browser.compute(manifest, demo_project["features"].parent, ckpt)
        browser.thread.cancel(jid)
    assert "cancelled" in browser.status.text() and browser.model.cohort.rows[0].label == "tumour"
