"""The audit's artifact rule also judges the intervention search's sufficient-and-necessary subset.

On :mod:`testkit.search`'s hand-built bag (105 patches, 5 evidence patches) the main subset is
attention's top ⌈5 % N⌉ = 6 (the 5 evidence patches and one background patch) and the search's
S_N is exactly the 5 evidence patches. Three of the five are marked artifact: 3 of 6 = 50 % of the
main subset (not more than half: no ``artifact_evidence``), 3 of 5 = 60 % of S_N
(``artifact_evidence_search``).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from core.cli import main
from core.diagnostics.artifact_detectors import ArtifactParts
from core.diagnostics.audit import AuditConfig, audit_slide, build_explainers, summarise_audit
from core.diagnostics.failures import FLAGS, SEARCH_FLAG, classify_failures
from testkit.search import known_bag, known_model, known_project


def _audit(scores, guide="attention"):
    model = known_model()
    x, c, ev = known_bag(seed=0)
    cfg = AuditConfig(methods=("attention",), minimal_k=(), search_guide=guide)
    return audit_slide(model, build_explainers(model, ("attention",)), "k0", x, c, 1, cfg, artifact_scores=scores), ev


def test_search_subset_is_judged_by_the_artifact_rule():
    x, _, ev = known_bag(seed=0)
    scores = np.zeros(len(x))
    scores[ev[:3]] = 1.0  # three of the five evidence patches are artifact
    res, ev = _audit(scores)
    assert res.snr["attention"].indices.size == 6 and set(ev) <= set(res.snr["attention"].indices)
    assert res.failures["artifact_evidence"] is False and res.artifact_share == pytest.approx(0.5)
    assert res.failures[SEARCH_FLAG] is True and res.artifact_share_search == pytest.approx(0.6)
    assert res.csv_row()[f"fail_{SEARCH_FLAG}"] == 1 and res.csv_row()["artifact_share_search"] == pytest.approx(0.6)
    assert summarise_audit([res], "classification")["failures"][SEARCH_FLAG] == 1
    assert not res.failures["severe"]  # the second artifact flag is not a second failure
    clean, _ = _audit(np.zeros(len(x)))
    assert clean.failures[SEARCH_FLAG] is False and clean.artifact_share_search == 0.0


def test_no_search_no_search_flag():
    x, _, _ = known_bag(seed=0)
    res, _ = _audit(np.ones(len(x)), guide=None)
    assert SEARCH_FLAG not in res.failures and res.artifact_share_search is None
    assert tuple(summarise_audit([res], "classification")["failures"]) == FLAGS
    f = classify_failures(correct=True, evidence=[0], artifact_scores=np.ones(3), search_evidence=[])
    assert f[SEARCH_FLAG] is False  # searched, nothing found: nothing to judge


def test_audit_command_writes_the_search_flag(tmp_path, monkeypatch):
    ckpt, bags = known_project(tmp_path)
    (f, ev), = bags
    scores = np.zeros(105)
    scores[ev[:3]] = 1.0
    zero = np.zeros(105)
    monkeypatch.setattr("core.diagnostics.artifacts.slide_artifact_parts",
                        lambda *a, **k: ArtifactParts(zero, scores, zero, zero))  # the evidence's patches are "pen"
    (tmp_path / "slide.svs").write_bytes(b"")  # the manifest names a slide; its scores come from the patch above
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"slide_id,label,slide_path\nk0,positive,{tmp_path / 'slide.svs'}\n")
    assert main(["audit", "--manifest", str(manifest), "--features", str(tmp_path), "--model", str(ckpt),
                 "--methods", "attention", "--minimal-k", "", "--evidence-guide", "attention",
                 "--out", str(tmp_path / "report")]) == 0
    row, = csv.DictReader((tmp_path / "report" / "per_slide.csv").read_text().splitlines())
    assert row[f"fail_{SEARCH_FLAG}"] == "1" and row["fail_artifact_evidence"] == "0"
    assert float(row["artifact_share_pen"]) == float(row["artifact_share"]) and float(row["artifact_share_background"]) == 0
