"""``evident explain --evidence-sets``: the evidence file holds the sets, their S/N numbers and the settings."""

from __future__ import annotations

import numpy as np
import pytest

from core.cli import main
from core.evidence.evidence_file import read_evidence
from testkit.search import forward_phi, known_bag, known_model, known_project


def test_explain_writes_evidence_sets_with_sn_numbers_and_settings(tmp_path, capsys):
    ckpt, bags = known_project(tmp_path)
    (f, truth), out = bags[0], tmp_path / "out"
    assert main(["explain", "--model", str(ckpt), "--features", str(f), "--methods", "attention,evidence_sets",
                 "--delta-n", "0.3", "--out", str(out), "--device", "cpu"]) == 0
    assert "5 evidence set(s)" in capsys.readouterr().err
    ev = read_evidence(out / "k0.evidence.h5")
    names = sorted(k for k in ev.subsets if k.startswith("evidence_set_"))
    assert names == [f"evidence_set_{j}" for j in range(1, 6)]
    x, c, _ = known_bag(seed=0)
    model = known_model()
    union = np.concatenate([ev.subsets[n].indices for n in names])
    assert sorted(union.tolist()) == truth.tolist()  # disjoint and exactly the evidence
    phi_full, _ = forward_phi(model, x, c, np.arange(len(x)), 1)
    for n in names:
        s = ev.subsets[n]
        phi, cls = forward_phi(model, x, c, s.indices, 1)
        assert cls == 1 and ev.snr[n]["keep_only_drop"] == pytest.approx(phi_full - phi, abs=1e-6)
        assert s.attrs["search_guide"] == "attention" and s.attrs["search_delta_n"] == 0.3
        assert s.attrs["n_sets"] == 5 and s.attrs["sets_stop_reason"] == "no_sufficient_subset"
        assert {"complement_degradation", "remove_union_degradation"} <= set(ev.snr[n])
    np.testing.assert_array_equal(ev.subsets["sufficient_necessary"].indices, truth)
    assert ev.snr["sufficient_necessary"]["complement_degradation"] > 0.5
    # a rerun with fewer sets leaves no stale set behind; the scores stay
    assert main(["explain", "--model", str(ckpt), "--features", str(f), "--methods", "random", "--evidence-sets",
                 "--k-max", "2", "--out", str(out)]) == 0
    ev = read_evidence(out / "k0.evidence.h5")
    assert sorted(k for k in ev.subsets if k.startswith("evidence_set_")) == ["evidence_set_1", "evidence_set_2"]
    assert {"attention", "random"} <= set(ev.scores)
    assert ev.subsets["evidence_set_1"].attrs["sets_stop_reason"] == "k_max"


def test_bad_search_settings_are_refused_before_writing(tmp_path, capsys):
    ckpt, bags = known_project(tmp_path)
    out = tmp_path / "out"
    assert main(["explain", "--model", str(ckpt), "--features", str(bags[0][0]), "--evidence-sets",
                 "--delta-s", "2", "--out", str(out)]) == 2
    assert "delta_s must lie in [0, 1]" in capsys.readouterr().err and not out.exists()
    assert main(["explain", "--model", str(ckpt), "--features", str(bags[0][0]), "--evidence-sets",
                 "--guide", "bogus", "--out", str(out)]) == 2
    assert "unknown explanation method 'bogus'" in capsys.readouterr().err and not out.exists()


def test_subset_attrs_round_trip_and_a_clash_is_refused(tmp_path):
    from core.errors import EvidentError
    from core.evidence.evidence_file import Evidence, Subset, write_evidence

    c = np.arange(8).reshape(4, 2)
    attrs = {"search_guide": "ig", "set_index": 2, "search_delta_s": 0.05}
    write_evidence(tmp_path / "a.h5", Evidence("a", c, subsets={"s": Subset(np.array([1, 2]), "sufficient", attrs=attrs)}))
    back = read_evidence(tmp_path / "a.h5").subsets["s"]
    assert back.attrs == attrs and back.stop_reason == "sufficient"
    assert all(type(back.attrs[k]) is type(v) for k, v in attrs.items())
    with pytest.raises(EvidentError, match="'coverage' clashes"):
        write_evidence(tmp_path / "b.h5", Evidence("b", c, subsets={"s": Subset(np.array([1]), attrs={"coverage": 1.0})}))
    assert not (tmp_path / "b.h5").exists()


def test_audit_reports_evidence_sets_per_slide_and_a_cohort_line(tmp_path, capsys):
    import csv
    import json

    ckpt, bags = known_project(tmp_path, n_slides=3)
    manifest = tmp_path / "cohort.csv"
    manifest.write_text("slide_id,label\n" + "".join(f"k{i},positive\n" for i in range(3)))
    out = tmp_path / "report"
    args = ["audit", "--manifest", str(manifest), "--features", str(tmp_path), "--model", str(ckpt), "--out", str(out),
            "--methods", "attention,random", "--minimal-k", ""]
    assert main(args) == 0
    err = capsys.readouterr().err
    rows = list(csv.DictReader((out / "per_slide.csv").read_text(encoding="utf-8").splitlines()))
    truth_sizes = [ev.size for _, ev in bags]  # 5, 4, 3 evidence patches: one set each, S&N = all of them
    assert [int(r["evidence_sets"]) for r in rows] == truth_sizes
    assert [r["evidence_set_sizes"] for r in rows] == [";".join(["1"] * k) for k in truth_sizes]
    assert [int(r["sufficient_necessary_size"]) for r in rows] == truth_sizes
    assert {r["evidence_sets_stop"] for r in rows} == {"no_sufficient_subset"}
    es = json.loads((out / "cohort.json").read_text())["evidence_sets"]
    assert es["slides"] == 3 and es["mean_sets"] == pytest.approx(4.0) and es["pct_ge2"] == 100.0
    assert es["pct_sufficient_necessary"] == 100.0 and es["mean_set_size"] == 1.0
    line = "3 slides: 4.00 evidence sets per slide, 100.0% of slides with ≥ 2"
    assert line in (out / "summary.md").read_text(encoding="utf-8") and line in err
    assert "guide attention" in (out / "summary.md").read_text(encoding="utf-8")
    # the search is skipped on request, and a guide outside --methods is refused with nothing written
    assert main([*args, "--evidence-guide", "none", "--out", str(tmp_path / "r2")]) == 0
    assert "evidence_sets" not in json.loads((tmp_path / "r2" / "cohort.json").read_text())
    assert main([*args, "--evidence-guide", "ig", "--out", str(tmp_path / "r3")]) == 2
    assert "--evidence-guide 'ig' is not among --methods" in capsys.readouterr().err and not (tmp_path / "r3").exists()
