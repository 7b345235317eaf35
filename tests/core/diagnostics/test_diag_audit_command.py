"""``evident audit``: a complete report from a digit-bag cohort; nothing partial on error or Ctrl-C."""

from __future__ import annotations

import csv
import json

import pytest

from core.cli import main
from core.diagnostics.report import REPORT_FILES
from testkit.audit import digit_cohort


@pytest.fixture
def cohort(tmp_path):
    return digit_cohort(tmp_path, ("0", "1"))


def _args(manifest, ckpt, out, *extra):
    return ["audit", "--manifest", str(manifest), "--features", str(manifest.parent / "features"), "--model", str(ckpt),
            "--out", str(out), "--methods", "attention,ig,single,random", "--minimal-k", "4", *extra]


def test_audit_writes_the_full_report(cohort):
    manifest, ckpt, tmp = cohort
    out = tmp / "report"
    assert main(_args(manifest, ckpt, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    rows = list(csv.DictReader((out / "per_slide.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 6 and "aupc_drop_ig" in rows[0] and "keep_only_drop_gce" in rows[0] and "subsets_k4_prefix" in rows[0]
    summary = json.loads((out / "cohort.json").read_text())
    assert summary["n_slides"] == 6 and set(summary["snr"]) >= {"random", "attention", "ig", "single", "gce"}
    assert summary["n_included"] == sum(int(r["included"]) for r in rows)
    assert "| attention |" in (out / "summary.md").read_text() or summary["n_included"] == 0
    assert (out / "aupc.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_features_and_ctrl_c_leave_nothing(cohort, capsys, monkeypatch):
    manifest, ckpt, tmp = cohort
    out = tmp / "report"
    assert main(_args(manifest, ckpt, out, "--methods", "attention,nope")) == 2
    assert "unknown explanation method 'nope'" in capsys.readouterr().err
    first = min((manifest.parent / "features").iterdir())
    first.unlink()
    assert main(_args(manifest, ckpt, out)) == 2
    assert f"error: {first}: feature file not found (features_path of slide" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())

    from core.diagnostics import audit

    calls = []
    real = audit.audit_slide

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(audit, "audit_slide", interrupted)
    manifest2 = tmp / "m2.csv"
    lines = manifest.read_text().splitlines()
    manifest2.write_text("\n".join([lines[0]] + [l.replace("features/", str(manifest.parent / "features") + "/")
                                                 for l in lines[1:] if first.stem not in l]) + "\n")
    assert main(_args(manifest2, ckpt, out)) != 0
    assert "interrupted" in capsys.readouterr().err and len(calls) == 2
    # no report; only the ledger of the slide finished before Ctrl-C (docs/scheduler.md)
    assert not out.exists() or [p.name for p in out.iterdir()] == [".evident"]

    # the rerun audits only the slides left, and its report is the one a run from scratch writes
    monkeypatch.setattr(audit, "audit_slide", real)
    assert main(_args(manifest2, ckpt, out)) == 0
    assert "1 slide(s) already done" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)  # the ledger is gone with a complete report
    fresh = tmp / "fresh"
    assert main(_args(manifest2, ckpt, fresh)) == 0
    for name in ("per_slide.csv", "cohort.json", "summary.md"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def test_annotations_add_localisation_per_method(cohort):
    """Annotations drawn over each positive bag's true evidence (the target digits)."""
    import shapely
    from shapely.geometry import box

    from core.data.annotation import Annotation
    from core.data.annotations import write_geojson
    from core.data.bags import read_bag
    from core.data.digits import PATCH_SIZE, read_evidence_truth

    manifest, ckpt, tmp = cohort
    truth = read_evidence_truth(manifest.parent / "evidence_truth.json")
    ann = tmp / "annotations"
    ann.mkdir()
    annotated = []
    for sid, idx in truth.items():
        if len(idx) == 0:
            continue
        coords = read_bag(manifest.parent / "features" / f"{sid}.h5").coords
        geom = shapely.union_all([box(x, y, x + PATCH_SIZE, y + PATCH_SIZE) for x, y in coords[idx]])
        write_geojson(ann / f"{sid}.geojson", [Annotation(geometry=geom, classification="target", name=None, properties={})])
        annotated.append(sid)
    assert annotated, "the seed gives at least one positive bag"
    out = tmp / "report_loc"
    assert main(_args(manifest, ckpt, out, "--annotations", str(ann))) == 0
    loc = json.loads((out / "cohort.json").read_text())["localisation"]
    assert loc["n_slides"] == len(annotated) and set(loc["methods"]) >= {"attention", "ig", "single", "random"}
    for m, r in loc["methods"].items():
        for key in ("coverage", "precision", "relevance_mass", "dice", "froc"):
            assert 0.0 <= r[key] <= 1.0 and f"{key}_chance" in r, (m, key)
    rows = {r["slide_id"]: r for r in csv.DictReader((out / "per_slide.csv").read_text(encoding="utf-8").splitlines())}
    assert all(rows[s]["coverage_single"] != "" for s in annotated)
    assert "## Localisation against annotations" in (out / "summary.md").read_text()
    # a folder that matches no slide is a clear error, and no report is written
    empty = tmp / "no_annotations"
    empty.mkdir()
    assert main(_args(manifest, ckpt, tmp / "report_none", "--annotations", str(empty))) == 2
    assert not (tmp / "report_none").exists() or not any((tmp / "report_none").iterdir())
