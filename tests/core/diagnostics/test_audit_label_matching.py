"""``evident audit`` matches manifest labels to the model's classes by name, never by position."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from core.cli import main
from testkit.audit import digit_cohort


@pytest.fixture
def cohort(tmp_path):
    return digit_cohort(tmp_path, ("neg", "pos"))


def _relabel(manifest: Path, out: Path, label_of) -> Path:
    rows = list(csv.DictReader(manifest.read_text(encoding="utf-8").splitlines()))
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for i, r in enumerate(rows):
            label = label_of(i, r)
            if label is not None:
                w.writerow({**r, "label": label, "features_path": str(manifest.parent / r["features_path"])})
    return out


def _audit(manifest, ckpt, out):
    return main(["audit", "--manifest", str(manifest), "--features", str(ckpt.parent), "--model", str(ckpt),
                 "--out", str(out), "--methods", "attention,random", "--minimal-k", ""])


def test_a_positives_only_cohort_is_scored_against_the_positive_class(cohort, capsys):
    manifest, ckpt, tmp = cohort
    pos = _relabel(manifest, tmp / "pos.csv", lambda i, r: "pos")
    assert _audit(pos, ckpt, tmp / "report") == 0
    rows = list(csv.DictReader((tmp / "report" / "per_slide.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 6
    assert {r["label"] for r in rows} == {"1"}  # index of "pos" in the model's ("neg", "pos"), not 0 of ("pos",)
    # the reverse order of first appearance must not matter either
    mixed = _relabel(manifest, tmp / "mixed.csv", lambda i, r: "pos" if i % 2 else "neg")
    assert _audit(mixed, ckpt, tmp / "report2") == 0
    rows = list(csv.DictReader((tmp / "report2" / "per_slide.csv").read_text(encoding="utf-8").splitlines()))
    assert [r["label"] for r in rows] == ["1" if i % 2 else "0" for i in range(6)]


@pytest.mark.parametrize("bad", ["third", "1", "Pos"])
def test_a_label_the_model_does_not_know_is_an_error_naming_the_row(cohort, capsys, bad):
    manifest, ckpt, tmp = cohort
    m = _relabel(manifest, tmp / "bad.csv", lambda i, r: bad if i == 2 else "neg")
    assert _audit(m, ckpt, tmp / "report") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {m}: line 4: ")
    assert repr(bad) in err[0] and "'neg', 'pos'" in err[0]
    assert not (tmp / "report").exists() or not any((tmp / "report").iterdir())


def test_an_unusable_out_is_reported_before_any_work(cohort, capsys, monkeypatch):
    manifest, ckpt, tmp = cohort
    from core.diagnostics import audit

    manifest = _relabel(manifest, tmp / "digits" / "named.csv", lambda i, r: "pos" if i % 2 else "neg")
    calls = []
    monkeypatch.setattr(audit, "audit_slide", lambda *a, **k: calls.append(1))
    blocker = tmp / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "report", tmp / ("n" * 300)):
        assert _audit(manifest, ckpt, out) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {out}: cannot create output folder"), err
    assert calls == []
    assert sorted(p.name for p in tmp.iterdir()) == sorted(["a-file", "digits", "m.pt"])


def test_a_missing_features_path_is_named_as_the_path_tried(cohort, capsys):
    manifest, ckpt, tmp = cohort
    manifest = _relabel(manifest, tmp / "digits" / "named.csv", lambda i, r: "pos" if i % 2 else "neg")
    text = manifest.read_text(encoding="utf-8").splitlines()
    first = text[1].split(",")
    col = text[0].split(",").index("features_path")
    tried = manifest.parent / "elsewhere" / "gone.h5"
    first[col] = "elsewhere/gone.h5"  # relative: from the manifest's folder
    manifest.write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n", encoding="utf-8")
    assert _audit(manifest, ckpt, tmp / "report") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tried}: feature file not found"), err
    assert "line 2" in err[0] and str(manifest) in err[0]
