"""The per-slide report as a job: :class:`ReportJob` (docs/reports.md).

Job shape (what a per-slide scheduler runs, locally or on other processes): a frozen, picklable
object with ``setup(self) -> object`` (once per worker) and ``run(self, state, slide_id, out_dir)``
(once per slide). ``run`` writes ``out_dir/<slide_id>.html`` (the page) and
``out_dir/<slide_id>.summary.json`` (one index row and the digest of the slide's inputs and the
settings), each atomically, the summary last; :func:`write_index` builds ``out_dir/index.html`` from
the summaries present. ``evident report`` runs the job through :mod:`core.schedule`
(docs/scheduler.md); a slide whose page and summary exist with the same digest is done
(:meth:`ReportJob.is_done`) and is not drawn again.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.atomic import atomic_write_json, atomic_write_text
from core.cohort.heatmaps_inputs import HeatmapInputs, inputs_digest
from core.cohort.report_content import SlideReport, slide_report
from core.cohort.report_html import index_html, slide_html, slide_page_name
from core.diagnostics.failures import FailureThresholds
from core.errors import EvidentError
from core.jsonfile import read_json

__all__ = ["INDEX", "ReportJob", "ReportInputs", "summary_of", "write_index"]

INDEX = "index.html"
SUMMARY_SUFFIX = ".summary.json"


@dataclass(frozen=True)
class ReportInputs:
    """One slide's inputs: its evidence file and, optionally, slide file, annotations and truth label."""

    slide_id: str
    evidence: str
    slide: str | None = None
    annotations: str | None = None
    truth: str | None = None


def _small(png: bytes, side: int) -> bytes:
    """``png`` shrunk so its longer side is at most ``side`` px (PNG bytes)."""
    import io

    from PIL import Image  # local: PIL only when used

    img = Image.open(io.BytesIO(png)).convert("RGB")
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def summary_of(r: SlideReport, thumb_side: int = 120) -> dict:
    """The index row of a report (JSON-ready): ids, prediction, truth, verdict, raised flags, and a
    ``thumb_side``-px thumbnail of the primary map (small: an index of thousands of slides stays light)."""
    thumb = next((m.png for m in r.maps if m.name == r.top_map), r.maps[0].png if r.maps else None)
    thumb = _small(thumb, thumb_side) if thumb else None
    return {"slide_id": r.slide_id, "prediction": r.prediction, "truth": r.truth, "correct": r.correct,
            "flags_raised": [f for f, v, _ in r.flags if v], "top_map": r.top_map,
            "thumbnail": base64.b64encode(thumb).decode("ascii") if thumb else None}


@dataclass(frozen=True)
class ReportJob:
    """Write the evidence report of any slide among ``slides``.

    Attributes
    ----------
    slides
        The inputs of every slide the job may be asked for.
    top_k
        Patches shown for the primary map.
    maps
        Maps to show (``None``: all the evidence file holds).
    thresholds
        Failure-flag thresholds (:class:`core.diagnostics.failures.FailureThresholds`).
    max_side
        Side of each map overview (px).
    name
        The scheduler's ledger folder (``OUT/.evident/ledger/report/``).

    The ledger decides whether a slide is done from the job's settings and the slide's
    :meth:`input_key` (as for :class:`core.cohort.heatmaps_job.HeatmapJob`), so a changed evidence file
    is reported again and adding slides redoes none of the others.
    """

    slides: tuple[ReportInputs, ...] = field(repr=False)
    top_k: int = 8
    maps: tuple[str, ...] | None = None
    thresholds: FailureThresholds = FailureThresholds()
    max_side: int = 360
    name: str = "report"

    def slide_ids(self) -> list[str]:
        """The slides this job can report, in order."""
        return [s.slide_id for s in self.slides]

    def setup(self) -> object:
        """Per-worker state: nothing to load (no model), so ``None``."""
        return None

    def inputs_of(self, slide_id: str) -> ReportInputs:
        """The inputs of ``slide_id``; :class:`EvidentError` when it is not one of :attr:`slides`."""
        for s in self.slides:
            if s.slide_id == slide_id:
                return s
        raise EvidentError(None, f"slide {slide_id!r} is not among this report job's slides")

    def digest(self, slide_id: str) -> str:
        """sha256 (hex) of what the slide's page depends on: the evidence and annotation files by content,
        the slide file by path, size and time (:func:`core.cohort.heatmaps_inputs.inputs_digest`), the
        truth label and the settings. Raises ``OSError`` when an input file cannot be read."""
        s = self.inputs_of(slide_id)
        files = HeatmapInputs(s.slide_id, Path(s.evidence), None if s.slide is None else Path(s.slide), None,
                              None if s.annotations is None else Path(s.annotations))
        settings = {"truth": s.truth, "top_k": self.top_k, "maps": None if self.maps is None else list(self.maps),
                    "thresholds": asdict(self.thresholds), "max_side": self.max_side, "version": 1}
        return inputs_digest(files, settings)

    def input_key(self, slide_id: str) -> str:
        """The ledger's per-slide input key: :meth:`digest` (raises ``OSError`` for an unreadable input,
        which the ledger records as unreadable, so the slide is run and :meth:`run` names the problem)."""
        return self.digest(slide_id)

    def outputs_complete(self, slide_id: str, out_dir: Path) -> bool:
        """Whether the slide's page and summary are there (a slide the ledger has done whose page was
        removed is reported again)."""
        out = Path(out_dir)
        return (out / slide_page_name(slide_id)).is_file() and (out / f"{slide_id}{SUMMARY_SUFFIX}").is_file()

    def is_done(self, slide_id: str, out_dir: str | os.PathLike, digest: str | None = None) -> bool:
        """Whether the slide's page and summary exist and were made from the same inputs and settings."""
        out = Path(out_dir)
        try:
            doc = json.loads((out / f"{slide_id}{SUMMARY_SUFFIX}").read_text(encoding="utf-8"))
            digest = digest or self.digest(slide_id)
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and doc.get("digest") == digest and (out / slide_page_name(slide_id)).is_file()

    def run(self, state: object, slide_id: str, out_dir: Path) -> None:
        """Write ``out_dir/<slide_id>.html`` and its summary (atomically, the summary last; nothing on
        error); nothing to do when :meth:`is_done`.

        Raises
        ------
        EvidentError
            ``slide_id`` is not one of :attr:`slides`; any input the report cannot read.
        """
        s = self.inputs_of(slide_id)
        try:
            digest = self.digest(slide_id)
        except OSError:
            digest = None  # an unreadable input: slide_report names it
        if digest is not None and self.is_done(slide_id, out_dir, digest):
            return
        r = slide_report(s.evidence, truth=s.truth, slide_path=s.slide, annotations=s.annotations, top_k=self.top_k,
                         maps=self.maps, thresholds=self.thresholds, max_side=self.max_side)
        if r.slide_id != slide_id:
            raise EvidentError(s.evidence, f"holds the evidence of slide {r.slide_id!r}, not {slide_id!r}")
        out = Path(out_dir)
        atomic_write_text(out / slide_page_name(slide_id), slide_html(r))
        atomic_write_json(out / f"{slide_id}{SUMMARY_SUFFIX}", {**summary_of(r), "digest": digest})


def write_index(out_dir: str | os.PathLike, failed: dict[str, str] | None = None,
                unfinished: list[str] | tuple = ()) -> Path:
    """Write ``out_dir/index.html`` (atomically) from every ``<slide>.summary.json`` there, listing the
    slides that ``failed`` (slide id -> error) or were left ``unfinished`` instead of any summary of
    theirs (:func:`core.cohort.report_html.index_html`); returns its path."""
    out = Path(out_dir)
    rows = [read_json(p, "report summary") for p in sorted(out.glob(f"*{SUMMARY_SUFFIX}"))]
    path = out / INDEX
    atomic_write_text(path, index_html(rows, failed, unfinished))
    return path
