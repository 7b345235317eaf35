"""Reading an audit folder into cohort rows; sorting, filtering and stepping through failures."""

from __future__ import annotations

import json
import math

import pytest

from core.errors import EvidentError
from core.review.cohort_table import (
    filter_rows,
    model_mismatch,
    next_failure,
    read_audit_folder,
    sort_rows,
)

CSV = """slide_id,label,prediction,prob_benign,prob_tumour,keep_only_drop,complement_degradation,case_failure,low_sufficiency,severe,slide_path
s1,tumour,tumour,0.1,0.9,0.02,0.40,0,0,0,slides/s1.svs
s2,benign,tumour,0.3,0.7,0.30,0.01,1,1,1,slides/s2.svs
s3,benign,benign,0.8,0.2,,0.20,false,true,false,
s4,tumour,tumour,0.05,0.95,0.01,0.50,0,0,0,slides/gone.svs
"""


@pytest.fixture
def audit(tmp_path):
    (tmp_path / "slides").mkdir()
    for s in ("s1", "s2"):
        (tmp_path / "slides" / f"{s}.svs").write_bytes(b"x")
    (tmp_path / "slides.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "cohort.json").write_text(json.dumps({"model": {"digest": "abc123", "version": "1"}}))
    return tmp_path


def test_read_audit_folder_rows_columns_and_missing(audit):
    c = read_audit_folder(audit)
    assert [r.slide_id for r in c.rows] == ["s1", "s2", "s3", "s4"]
    assert c.classes == ("benign", "tumour")
    assert c.numbers == ("keep_only_drop", "complement_degradation")
    assert c.columns[:5] == ("slide", "label", "prediction", "p(benign)", "p(tumour)")
    assert c.columns[5:8] == ("case_failure", "low_sufficiency", "severe")  # flags before the numbers
    s2 = c.rows[1]
    assert s2.flags == {"case_failure": True, "low_sufficiency": True, "severe": True}
    assert s2.probs["tumour"] == pytest.approx(0.7) and s2.slide_path == audit / "slides" / "s2.svs"
    assert math.isnan(c.rows[2].numbers["keep_only_drop"]) and c.rows[2].slide_path is None
    assert c.missing == (("s4", f"slide file {audit / 'slides' / 'gone.svs'} not found"),)
    assert c.rows[1].value("p(tumour)") == pytest.approx(0.7) and c.rows[1].value("severe") is True


def test_sort_filter_and_next_failure(audit):
    rows = read_audit_folder(audit).rows
    assert sort_rows(rows, "keep_only_drop") == [3, 0, 1, 2]  # NaN last
    assert sort_rows(rows, "keep_only_drop", descending=True) == [1, 0, 3, 2]
    assert sort_rows(rows, "slide", descending=True) == [3, 2, 1, 0]
    assert filter_rows(rows, "BENIGN") == [1, 2]  # label or prediction contains the text
    assert filter_rows(rows, failures_only=True) == [1, 2]
    assert filter_rows(rows, flags=("case_failure",)) == [1]
    assert filter_rows(rows, "s3", failures_only=True) == [2]
    order = [0, 1, 2, 3]
    assert next_failure(order, rows, None) == 1
    assert next_failure(order, rows, 1) == 2
    assert next_failure(order, rows, 2) == 1  # wraps around
    assert next_failure(order, rows, 1, step=-1) == 2
    assert next_failure([0, 3], rows, None) is None


def test_model_mismatch_is_worded(audit):
    c = read_audit_folder(audit)
    assert model_mismatch(c, digest="abc123") is None
    msg = model_mismatch(c, digest="ffff00")
    assert "different model" in msg and "abc123" in msg and "re-run `evident audit`" in msg
    assert "version" in model_mismatch(c, version="2")


def test_bad_audit_folders(tmp_path):
    with pytest.raises(EvidentError, match="not a folder"):
        read_audit_folder(tmp_path / "nope")
    with pytest.raises(EvidentError, match="no per-slide CSV"):
        read_audit_folder(tmp_path)
    (tmp_path / "x.csv").write_text("name,score\na,1\n")
    with pytest.raises(EvidentError, match="no slide_id column"):
        read_audit_folder(tmp_path)
    (tmp_path / "x.csv").write_text("slide_id,severe\na,maybe\n")
    with pytest.raises(EvidentError, match="line 2: column 'severe' is not a yes/no flag"):
        read_audit_folder(tmp_path)
    (tmp_path / "x.csv").write_text("slide_id,severe\na,1\n")
    (tmp_path / "cohort.json").write_text("{broken")
    with pytest.raises(EvidentError, match="cohort JSON"):
        read_audit_folder(tmp_path)


def test_audit_command_layout_with_manifest(tmp_path):
    """The layout `evident audit` writes: per_slide.csv with class indices and fail_<flag> columns;
    files of each slide come from the manifest, the features folder and the evidence folder."""
    (tmp_path / "audit").mkdir()
    (tmp_path / "features").mkdir()
    (tmp_path / "evidence").mkdir()
    (tmp_path / "a.svs").write_bytes(b"x")
    (tmp_path / "features" / "a.h5").write_bytes(b"x")
    (tmp_path / "features" / "b.h5").write_bytes(b"x")
    (tmp_path / "evidence" / "a_evidence.h5").write_bytes(b"x")
    (tmp_path / "manifest.csv").write_text("slide_id,case_id,label,slide_path\na,c1,normal,a.svs\nb,c2,tumour,gone.svs\n")
    (tmp_path / "audit" / "per_slide.csv").write_text(
        "slide_id,label,predicted,phi,correct,included,aupc_drop_attention,keep_only_drop_gce,fail_case_failure,fail_severe\n"
        "a,0,0,0.91,1,1,0.40,0.05,0,0\n"
        "b,1,0,0.66,0,0,0.70,0.31,1,1\n")
    (tmp_path / "audit" / "cohort.json").write_text(json.dumps({"n_slides": 2, "manifest": str(tmp_path / "manifest.csv")}))
    c = read_audit_folder(tmp_path / "audit", features_dir=tmp_path / "features", evidence_dir=tmp_path / "evidence")
    a, b = c.rows
    assert (a.label, a.prediction, b.label, b.prediction) == ("normal", "normal", "tumour", "normal")
    assert b.flags == {"case_failure": True, "severe": True} and c.columns[3:5] == ("case_failure", "severe")
    assert "phi" in c.numbers and "aupc_drop_attention" in c.numbers and "correct" in c.numbers
    assert a.slide_path == tmp_path / "a.svs" and a.features_path == tmp_path / "features" / "a.h5"
    assert a.evidence_path == tmp_path / "evidence" / "a_evidence.h5" and b.evidence_path is None
    assert c.missing == (("b", f"slide file {tmp_path / 'gone.svs'} not found"),)


def test_the_search_subsets_artifact_flag_is_a_cohort_flag(tmp_path):
    """``evident audit`` writes fail_artifact_evidence_search when it ran the evidence search: the
    browser shows it as a flag (failures-only filter, next failure), not as a number column."""
    (tmp_path / "per_slide.csv").write_text(
        "slide_id,label,predicted,fail_case_failure,fail_artifact_evidence_search,fail_severe,phi\n"
        "a,1,1,0,0,0,0.9\nb,1,1,0,1,0,0.8\n", encoding="utf-8")
    c = read_audit_folder(tmp_path)
    assert "artifact_evidence_search" in c.columns and "artifact_evidence_search" not in c.numbers
    assert c.rows[1].flags["artifact_evidence_search"] is True
    assert filter_rows(c.rows, failures_only=True) == [1]
    assert next_failure([0, 1], c.rows, 0, 1) == 1
