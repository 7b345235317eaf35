"""``evident report``: self-contained pages (pictures inlined with alt text, nothing from the network),
the right prediction / truth / S/N / flags with their reasons, atomic outputs, a picklable job."""

from __future__ import annotations

import base64
import io
import pickle
from dataclasses import FrozenInstanceError
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core.cli import main


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict] = []
        self.hrefs: list[str] = []
        self.external: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag == "a":
            self.hrefs.append(a.get("href", ""))
        if tag in ("link", "script", "iframe", "object", "embed") or (tag != "a" and "src" in a and tag != "img"):
            self.external.append((tag, a))

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _check_self_contained(page: _Page, html: str) -> None:
    from PIL import Image

    assert page.imgs and not page.external
    assert "http://" not in html and "https://" not in html and "url(" not in html
    for img in page.imgs:
        assert img.get("alt", "").strip(), img.get("alt")
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()  # a real PNG


def test_report_end_to_end(report_project, tmp_path: Path, capsys) -> None:
    p, out = report_project, tmp_path / "out"
    assert main(["report", "--evidence", str(p["evidence"].parent), "--manifest", str(p["manifest"]),
                 "--annotations", str(p["annotations"].parent), "--out", str(out), "--top-k", "6"]) == 0
    sid = p["slide_id"]
    assert sorted(f.name for f in out.iterdir()) == sorted([f"{sid}.html", f"{sid}.summary.json", "index.html",
                                                            ".evident"])  # .evident: the scheduler's ledger
    page_path = out / f"{sid}.html"
    html, page = page_path.read_text(), _parse(page_path)
    _check_self_contained(page, html)
    text = " ".join(page.text)
    assert "tumour (p = 0.800)" in text and "benign" in text and "wrong" in text
    # maps side by side: one overview per map, the spread in the sequential spread colormap
    maps = [i for i in page.imgs if i.get("class") == "map"]
    assert sorted(i["alt"].split(" map")[0] for i in maps) == ["attention", "attention_ensemble_mean",
                                                               "attention_ensemble_std", "gate", "ig"]
    assert "spread: std over models of attention weight" in text and "magma" in text
    assert "ensemble of 3 (out-of-fold): run/fold_0_1, run/fold_0_2, run/fold_0_3" in text
    # S/N/R and the flags with why
    assert "keep-only drop 0.300 on subset 'gce'" in text and "(> 0.1)" in text
    assert "complement degradation 0.010 on subset 'gce'" in text
    assert "predicted tumour, truth benign" in text
    assert "% of the evidence on subset 'gce'" in text  # judged from the slide's tissue mask
    # 6 top tiles read from the slide, localisation with chance levels
    assert sum(1 for i in page.imgs if i["alt"].startswith("top ")) == 6
    assert "annotation coverage" in text and "relevance mass inside" in text
    index = _parse(out / "index.html")
    _check_self_contained(index, (out / "index.html").read_text())
    assert index.hrefs == [f"{sid}.html"] and all((out / h).is_file() for h in index.hrefs)
    from PIL import Image

    thumb = Image.open(io.BytesIO(base64.b64decode(index.imgs[0]["src"].split(",", 1)[1])))
    assert max(thumb.size) <= 120 and (out / "index.html").stat().st_size < 60_000  # light per slide
    assert "case failure" in " ".join(index.text) and "severe" in " ".join(index.text)


def test_report_without_slide_or_manifest(report_project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["report", "--evidence", str(report_project["evidence"]), "--out", str(out), "--maps", "attention"]) == 0
    page = _parse(out / f"{report_project['slide_id']}.html")
    text = " ".join(page.text)
    assert "grey canvas" in text and not any(i["alt"].startswith("top ") for i in page.imgs)
    assert "not judged: no truth label" in text and "needs the slide file" in text
    assert len([i for i in page.imgs if i.get("class") == "map"]) == 1


def test_bad_inputs_are_one_clear_error_and_nothing_is_written(report_project, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    m = tmp_path / "m.csv"
    m.write_text(f"slide_id,label\n{report_project['slide_id']},tumour\nother,benign\n")
    assert main(["report", "--evidence", str(report_project["evidence"]), "--manifest", str(m), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "m.csv" in err and "'other' has no evidence file" in err
    assert main(["report", "--evidence", str(report_project["evidence"]), "--maps", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds no map nope" in err and report_project["evidence"].name in err
    assert main(["report", "--evidence", str(tmp_path / "missing.h5"), "--out", str(out)]) == 2
    assert "evidence file or folder not found" in capsys.readouterr().err
    assert not out.exists()


def test_report_job_is_frozen_picklable_and_atomic(report_project, tmp_path: Path, monkeypatch) -> None:
    from core.cohort import report_job
    from core.cohort.report_job import ReportInputs, ReportJob
    from core.errors import EvidentError

    sid = report_project["slide_id"]
    job = ReportJob((ReportInputs(sid, str(report_project["evidence"])),), top_k=2)
    again = pickle.loads(pickle.dumps(job))
    assert again == job and again.slide_ids() == [sid]
    with pytest.raises(FrozenInstanceError):
        job.top_k = 3  # type: ignore[misc]
    with pytest.raises(EvidentError, match="not among this report job's slides"):
        job.run(job.setup(), "nope", tmp_path)

    def boom(_report):
        raise RuntimeError("killed while rendering")

    monkeypatch.setattr(report_job, "slide_html", boom)
    with pytest.raises(RuntimeError):
        job.run(job.setup(), sid, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    monkeypatch.undo()
    again.run(again.setup(), sid, tmp_path)
    assert (tmp_path / f"{sid}.html").is_file() and (tmp_path / f"{sid}.summary.json").is_file()
