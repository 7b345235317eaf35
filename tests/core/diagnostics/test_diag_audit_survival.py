"""``evident audit`` on a survival model: cohort S/N/R with the C-index as the task metric."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from core.cli import main
from core.data.digits import make_digit_bags, write_digit_bags
from core.models.checkpoint import save_checkpoint
from testkit.explain import abmil, gce


@pytest.fixture(params=["abmil", "gce"])
def survival_cohort(tmp_path, request):
    bags = make_digit_bags(8, seed=1, min_size=12, max_size=20)
    manifest = write_digit_bags(tmp_path / "digits", bags)
    rows = list(csv.DictReader(manifest.read_text().splitlines()))
    rng = np.random.default_rng(0)
    surv = tmp_path / "digits" / "survival.csv"
    lines = ["slide_id,case_id,time,event,features_path"]
    for i, r in enumerate(rows):  # positive bags die earlier; events mixed
        t = float(rng.uniform(1, 5) if r["label"] == "1" else rng.uniform(4, 10))
        lines.append(f"{r['slide_id']},{r['case_id']},{t:.3f},{int(i % 3 != 2)},{r['features_path']}")
    surv.write_text("\n".join(lines) + "\n")
    host = abmil(d=64, c=1, hidden=8, task="survival")
    kind = request.param
    model = host if kind == "abmil" else gce(host)
    ckpt = tmp_path / "surv.pt"
    cfg = model.to_config() if kind == "gce" else {"host": "abmil", "host_config": host.config.to_dict()}
    save_checkpoint(ckpt, model, {**cfg, "task": "survival", "classes": []})
    return manifest, surv, ckpt, tmp_path, request.param


def _args(manifest, ckpt, out, *extra):
    return ["audit", "--manifest", str(manifest), "--features", str(manifest.parent / "features"), "--model", str(ckpt),
            "--out", str(out), "--methods", "attention,single,random", "--minimal-k", "4", *extra]


def test_survival_audit_fills_the_cohort_table_with_c_index_rows(survival_cohort):
    _, surv, ckpt, tmp, kind = survival_cohort
    out = tmp / "report"
    assert main(_args(surv, ckpt, out)) == 0
    summary = json.loads((out / "cohort.json").read_text())
    snr = summary["snr"]
    expected = {"random", "attention", "single"} | ({"gce"} if kind == "gce" else set())
    assert set(snr) >= expected
    for rule, r in snr.items():
        for key in ("metric_full", "evidence_sufficiency", "keep_only_drop", "complement_degradation",
                    "keep_only_drop_phi", "complement_degradation_phi"):
            assert math.isfinite(r[key]), (rule, key)
        assert 0.0 <= r["metric_full"] <= 1.0 and 0.0 <= r["evidence_sufficiency"] <= 1.0
        assert r["keep_only_drop"] == pytest.approx(r["metric_full"] - r["evidence_sufficiency"])
        assert r["n_slides"] == 8
    # every rule sees the same full bags, so the same full-bag C-index
    assert len({round(r["metric_full"], 12) for r in snr.values()}) == 1
    rows = list(csv.DictReader((out / "per_slide.csv").read_text(encoding="utf-8").splitlines()))
    phi = np.array([float(r["phi"]) for r in rows])
    assert len(rows) == 8 and np.all((phi > 0) & (phi < 1))
    # Φ = sigmoid of the standardised risk: its logit has mean 0 and std 1 over the cohort
    logit = np.log(phi / (1 - phi))
    assert abs(logit.mean()) < 1e-3 and logit.std() == pytest.approx(1.0, abs=1e-3)
    assert {r["event"] for r in rows} == {"0", "1"} and all(float(r["time"]) > 0 for r in rows)
    assert "## Same-budget S/N/R" in (out / "summary.md").read_text()


def test_survival_model_without_time_event_is_one_clear_error(survival_cohort, capsys):
    manifest, _, ckpt, tmp, _ = survival_cohort  # the label-only manifest
    out = tmp / "report"
    assert main(_args(manifest, ckpt, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {manifest}") and "'time'" in err[0] and "survival" in err[0]
    assert not out.exists()
