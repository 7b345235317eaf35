"""``evident report`` on the scheduler (demo cohort of 4 real-tissue slides): the serial and pool engines
write the same bytes, a rerun skips done slides and redoes changed ones, ``--skip-errors`` reports the
others and the index lists the failed slide, recorded failed in the ledger."""

from __future__ import annotations

import json

import numpy as np

from core.cli import main
from core.schedule import ledger_folder
from testkit.heatmaps import copy_evidence, truncate_evidence


def _run(cohort, ev_dir, out, *extra):
    return main(["report", "--evidence", str(ev_dir), "--manifest", str(cohort.manifest), "--annotations",
                 str(cohort.root / "annotations"), "--out", str(out), "--top-k", "2", "--size", "160", *extra])


def _outputs(out) -> dict[str, bytes]:
    """Every file the report wrote, by name (the scheduler's ledger left out)."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_serial_and_pool_engines_write_the_same_bytes(demo_cohort, tmp_path, capsys):
    cohort, evidence = demo_cohort
    ev_dir = next(iter(evidence.values())).parent
    assert _run(cohort, ev_dir, tmp_path / "serial", "--engine", "serial") == 0
    assert _run(cohort, ev_dir, tmp_path / "pool", "--engine", "pool", "--workers", "2") == 0
    serial, pool = _outputs(tmp_path / "serial"), _outputs(tmp_path / "pool")
    assert len(serial) == 2 * len(cohort.slide_ids) + 1 and "index.html" in serial
    assert serial == pool
    assert "4 report(s) written, 0 already done" in capsys.readouterr().err


def test_a_rerun_skips_done_slides_and_redoes_changed_or_missing_ones(demo_cohort, tmp_path, capsys):
    from core.evidence.evidence_file import add_scores, read_evidence

    cohort, evidence = demo_cohort
    ev_dir = copy_evidence(evidence, tmp_path / "ev")
    out = tmp_path / "out"
    assert _run(cohort, ev_dir, out, "--engine", "serial") == 0
    capsys.readouterr()
    first = _outputs(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.html") if p.name != "index.html"}
    assert _run(cohort, ev_dir, out) == 0
    err = capsys.readouterr().err
    assert "4 slide(s) already done by an earlier run" in err and "0 report(s) written, 4 already done" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.html") if p.name != "index.html"} == stamps
    assert _outputs(out) == first
    # an evidence file that changed is reported again; so is a slide whose page is gone
    a, b = cohort.slide_ids[0], cohort.slide_ids[1]
    ev = read_evidence(ev_dir / f"{a}.evidence.h5")
    add_scores(ev_dir / f"{a}.evidence.h5", "attention", np.asarray(ev.scores["attention"])[::-1].copy())
    (out / f"{b}.html").unlink()
    assert _run(cohort, ev_dir, out) == 0
    assert "2 report(s) written, 2 already done" in capsys.readouterr().err
    assert (out / f"{b}.html").read_bytes() == first[f"{b}.html"]
    assert (out / f"{a}.html").read_bytes() != first[f"{a}.html"]
    # other settings are other pages: nothing is skipped
    assert _run(cohort, ev_dir, out, "--top-k", "1") == 0
    assert "4 report(s) written, 0 already done" in capsys.readouterr().err


def test_a_bad_slide_with_skip_errors_is_listed_failed_and_the_others_are_done(demo_cohort, tmp_path, capsys):
    cohort, evidence = demo_cohort
    ev_dir = copy_evidence(evidence, tmp_path / "ev")
    bad_id = cohort.slide_ids[2]
    bad = truncate_evidence(ev_dir, bad_id)
    out = tmp_path / "out"
    # without --skip-errors: checked before the first page, one message naming the file, nothing written
    assert _run(cohort, ev_dir, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}") and not out.exists()
    assert _run(cohort, ev_dir, out, "--skip-errors", "--engine", "pool", "--workers", "2") == 2
    err = capsys.readouterr().err
    assert "3 report(s) written, 0 already done, 1 failed" in err
    assert [ln for ln in err.splitlines() if ln.startswith("error: ")] == [ln for ln in err.splitlines()
                                                                          if str(bad) in ln and "error: " in ln]
    for sid in cohort.slide_ids:
        assert (out / f"{sid}.html").is_file() == (sid != bad_id)
    record = json.loads((ledger_folder(out, "report") / f"{bad_id}.json").read_text())
    assert record["state"] == "failed" and str(bad) in record["error"]
    index = (out / "index.html").read_text()
    assert f"<tr><td>{bad_id}</td>" in index and "failed</span>: " in index and bad.name in index
    assert '<p class="sub">3 slide(s); ' in index and " predicted wrong; 1 failed." in index
    assert index.count('<a href="') == 3 and f'href="{bad_id}.html"' not in index
    # repaired: only that slide is reported, and the index lists no failure
    copy_evidence({bad_id: evidence[bad_id]}, ev_dir)
    assert _run(cohort, ev_dir, out, "--skip-errors") == 0
    assert "1 report(s) written, 3 already done" in capsys.readouterr().err
    index = (out / "index.html").read_text()
    assert "failed" not in index and index.count('<a href="') == 4


def test_the_index_shows_a_failed_or_unfinished_slide_instead_of_its_old_summary():
    from core.cohort.report_html import index_html

    def row(sid):
        return {"slide_id": sid, "prediction": "tumour (p = 0.9)", "truth": None, "correct": None,
                "flags_raised": [], "top_map": "attention", "thumbnail": None}

    html = index_html([row("a"), row("b"), row("c")], failed={"b": "b.evidence.h5: <not HDF5>"}, unfinished=["c"])
    assert html.count('<a href="') == 1 and 'href="a.html"' in html
    assert "<tr><td>b</td>" in html and "b.evidence.h5: &lt;not HDF5&gt;" in html
    assert "<tr><td>c</td>" in html and "not reported" in html
    assert "1 slide(s); 0 predicted wrong; 1 failed; 1 not reported." in html
    assert index_html([row("a")]) == index_html([row("a")], {}, [])  # nothing failed: the index as before
