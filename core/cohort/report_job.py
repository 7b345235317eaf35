"""The per-slide report as a job: :class:`ReportJob` (docs/reports.md).

Job shape (what a per-slide scheduler runs, locally or on other processes): a frozen, picklable
object with ``setup(self) -> object`` (once per worker) and ``run(self, state, slide_id, out_dir)``
(once per slide). ``run`` writes ``out_dir/<slide_id>.html`` (the page) and
``out_dir/<slide_id>.summary.json`` (one index row), each atomically; :func:`write_index` builds
``out_dir/index.html`` from the summaries present.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from core.atomic import atomic_write_json, atomic_write_text
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
    """

    slides: tuple[ReportInputs, ...]
    top_k: int = 8
    maps: tuple[str, ...] | None = None
    thresholds: FailureThresholds = FailureThresholds()
    max_side: int = 360

    def slide_ids(self) -> list[str]:
        """The slides this job can report, in order."""
        return [s.slide_id for s in self.slides]

    def setup(self) -> object:
        """Per-worker state: nothing to load (no model), so ``None``."""
        return None

    def run(self, state: object, slide_id: str, out_dir: Path) -> None:
        """Write ``out_dir/<slide_id>.html`` and its summary (atomically; nothing on error).

        Raises
        ------
        EvidentError
            ``slide_id`` is not one of :attr:`slides`; any input the report cannot read.
        """
        by_id = {s.slide_id: s for s in self.slides}
        if slide_id not in by_id:
            raise EvidentError(None, f"slide {slide_id!r} is not among this report job's slides")
        s = by_id[slide_id]
        r = slide_report(s.evidence, truth=s.truth, slide_path=s.slide, annotations=s.annotations, top_k=self.top_k,
                         maps=self.maps, thresholds=self.thresholds, max_side=self.max_side)
        if r.slide_id != slide_id:
            raise EvidentError(s.evidence, f"holds the evidence of slide {r.slide_id!r}, not {slide_id!r}")
        out = Path(out_dir)
        atomic_write_text(out / slide_page_name(slide_id), slide_html(r))
        atomic_write_json(out / f"{slide_id}{SUMMARY_SUFFIX}", summary_of(r))


def write_index(out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/index.html`` (atomically) from every ``<slide>.summary.json`` there; returns its path."""
    out = Path(out_dir)
    rows = [read_json(p, "report summary") for p in sorted(out.glob(f"*{SUMMARY_SUFFIX}"))]
    path = out / INDEX
    atomic_write_text(path, index_html(rows))
    return path
