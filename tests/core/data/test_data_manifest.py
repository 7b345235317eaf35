"""Cohort manifests: task inference, row validation with line numbers, class order, round trip."""

from __future__ import annotations

import hashlib

import pytest

from core.data.manifest import ManifestRow, read_manifest, write_manifest
from core.errors import EvidentError


def _csv(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_classification_manifest_with_all_columns(tmp_path):
    p = _csv(tmp_path, "\ufeffSlide_ID, label ,case_id,split,fold,slide_path,features_path,extra\n"
                       "a,tumour,P1,Train,0,slides/a.svs,/abs/a.h5,x\n"
                       "b,normal,,test,1,,,\n"
                       ",,,,,,,\n")
    m = read_manifest(p)
    assert m.task == "classification" and m.classes == ("normal", "tumour") and m.path == p
    a, b = m.rows
    assert a == ManifestRow("a", "P1", "tumour", None, None, "slides/a.svs", "/abs/a.h5", 0, "train")
    assert b.case_id == "b" and b.split == "test" and b.fold == 1 and b.slide_path is None
    assert m.label_index(a) == 1 and m.label_index(b) == 0
    assert m.resolve(a.slide_path) == tmp_path / "slides" / "a.svs"
    assert str(m.resolve(a.features_path)) == "/abs/a.h5" and m.resolve(None) is None
    m.validate_for_training()


def test_numeric_classes_sort_as_numbers(tmp_path):
    p = _csv(tmp_path, "slide_id,label\na,10\nb,2\nc,0\nd,1\n")
    assert read_manifest(p).classes == ("0", "1", "2", "10")
    q = _csv(tmp_path, "slide_id,label\na,10\nb,2\nc,x\n", "q.csv")
    assert read_manifest(q).classes == ("10", "2", "x")


def test_survival_manifest(tmp_path):
    p = _csv(tmp_path, "slide_id,time,event\na,12.5,1\nb,3,0.0\nc,0,0\n")
    m = read_manifest(p)
    assert m.task == "survival" and m.classes == ()
    assert [(r.time, r.event) for r in m.rows] == [(12.5, 1), (3.0, 0), (0.0, 0)]
    m.validate_for_training()


def test_task_inference_and_explicit_task(tmp_path):
    both = _csv(tmp_path, "slide_id,label,time,event\na,1,2,1\nb,0,3,0\n")
    with pytest.raises(EvidentError, match="name the task"):
        read_manifest(both)
    assert read_manifest(both, task="survival").rows[0].event == 1
    assert read_manifest(both, task="classification").classes == ("0", "1")
    ids = _csv(tmp_path, "slide_id\na\nb\n", "ids.csv")
    m = read_manifest(ids)
    assert m.task == "none"
    with pytest.raises(EvidentError, match="nothing to train on"):
        m.validate_for_training()
    with pytest.raises(EvidentError, match="missing column 'label'"):
        read_manifest(ids, task="classification")
    with pytest.raises(EvidentError, match=r"missing column\(s\) 'time', 'event'"):
        read_manifest(ids, task="survival")
    with pytest.raises(EvidentError, match="missing column 'label' \\(needed for regression\\)"):
        read_manifest(ids, task="regression")
    with pytest.raises(EvidentError, match="unknown task 'survial'"):
        read_manifest(ids, task="survial")
    numeric = read_manifest(_csv(tmp_path, "slide_id,label\na,1.5\nb,-2e3\n", "num.csv"), task="regression")
    assert numeric.classes == () and [numeric.value(r) for r in numeric.rows] == [1.5, -2000.0]
    one = read_manifest(_csv(tmp_path, "slide_id,label\na,3\nb,3.0\n", "one.csv"), task="regression")
    with pytest.raises(EvidentError, match="one value only"):
        one.validate_for_training()
    for bad in ("nan", "inf", "x1"):
        with pytest.raises(EvidentError, match=f"line 3: column 'label' of slide 'b' is '{bad}', not a number"):
            read_manifest(_csv(tmp_path, f"slide_id,label\na,1\nb,{bad}\nc,zz\n", "bad.csv"), task="regression")


@pytest.mark.parametrize("text, message", [
    ("", "empty manifest"),
    ("label\n1\n", "missing column 'slide_id'"),
    ("slide_id,label\n", "no rows after the header"),
    ("slide_id,label\na,1\n,0\n", "line 3: empty slide_id"),
    ("slide_id,label\na,1\nb,0\na,0\n", "line 4: duplicate slide_id 'a' \\(first on line 2\\)"),
    ("slide_id,label\na,1\nb,\n", "line 3: empty label for slide 'b'"),
    ("slide_id,label\na,1,extra\n", "line 2: 3 values but the header has 2 columns"),
    ("slide_id,time,event\na,5,2\n", "line 2: event must be 0 or 1, found '2'"),
    ("slide_id,time,event\na,5,yes\n", "line 2: event 'yes' is not a number"),
    ("slide_id,time,event\na,-1,1\n", "line 2: time must not be negative"),
    ("slide_id,time,event\na,nan,1\n", "line 2: time must be a finite number"),
    ("slide_id,time,event\na,,1\n", "line 2: empty time"),
    ("slide_id,time,event\na,ten,1\n", "line 2: time 'ten' is not a number"),
    ("slide_id,label,fold\na,1,1.5\n", "line 2: fold must be a whole number"),
    ("slide_id,label,fold\na,1,one\n", "line 2: fold 'one' is not a number"),
])
def test_bad_manifests_name_file_and_line_and_stay_unchanged(tmp_path, text, message):
    p = _csv(tmp_path, text)
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    with pytest.raises(EvidentError, match=message) as err:
        read_manifest(p)
    assert err.value.path == str(p)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before


def test_training_checks(tmp_path):
    one = read_manifest(_csv(tmp_path, "slide_id,label\na,1\nb,1\n"))
    assert one.classes == ("1",)
    with pytest.raises(EvidentError, match="one class only \\('1'\\)"):
        one.validate_for_training()
    censored = read_manifest(_csv(tmp_path, "slide_id,time,event\na,1,0\nb,2,0\n", "c.csv"))
    with pytest.raises(EvidentError, match="no events"):
        censored.validate_for_training()


def test_label_index_of_unknown_label(tmp_path):
    m = read_manifest(_csv(tmp_path, "slide_id,label\na,1\nb,0\n"))
    with pytest.raises(EvidentError, match="label .7. is not one of the manifest.s classes"):
        m.label_index(ManifestRow("z", "z", "7"))


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(EvidentError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv")
    b = tmp_path / "b.csv"
    b.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(EvidentError, match="cannot read the manifest"):
        read_manifest(b)


def test_write_read_round_trip(tmp_path):
    rows = [ManifestRow("a", "P1", label="1", fold=0, split="train", features_path="features/a.h5"),
            ManifestRow("b,odd", "P1", label="0", fold=1, split="val")]
    out = tmp_path / "sub" / "out.csv"
    write_manifest(out, rows)
    assert out.read_text().splitlines()[0] == "slide_id,case_id,label,split,fold,features_path"
    m = read_manifest(out)
    assert m.rows == tuple(rows)
    surv = [ManifestRow("a", "a", time=1.25, event=1), ManifestRow("b", "b", time=0.1 + 0.2, event=0)]
    write_manifest(tmp_path / "s.csv", surv)
    assert read_manifest(tmp_path / "s.csv").rows == tuple(surv)
    write_manifest(tmp_path / "again.csv", m)
    assert read_manifest(tmp_path / "again.csv").rows == tuple(rows)
