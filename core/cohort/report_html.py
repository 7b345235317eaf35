"""Self-contained HTML for the evidence reports: one page per slide and the cohort index (docs/reports.md).

Every picture is inlined as a base64 PNG ``data:`` URI with alt text; the style sheet is inline; the
pages load nothing from anywhere (the index links to the slide pages next to it by relative name).
Every text from a file (slide ids, class names, subset names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
import math
from html import escape

from core.cohort.report_content import SlideReport

__all__ = ["CSS", "index_html", "slide_html", "slide_page_name"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#555;font-size:13px} table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left} th{background:#f2f2f2}
.maps{display:flex;flex-wrap:wrap;gap:14px} figure{margin:0;width:372px}
figure img.map{width:360px;border:1px solid #bbb;image-rendering:auto} figcaption{font-size:12px;color:#333}
.bar{display:flex;align-items:center;gap:6px;font-size:11px;color:#555}
.tiles{display:flex;flex-wrap:wrap;gap:8px} .tile{font-size:11px;text-align:center;width:116px}
.tile img{border:1px solid #999} .yes{color:#b00;font-weight:bold} .no{color:#070} .nj{color:#888}
.ok{color:#070;font-weight:bold} .bad{color:#b00;font-weight:bold}
"""


def slide_page_name(slide_id: str) -> str:
    """The file name of a slide's page: ``<slide_id>.html``."""
    return f"{slide_id}.html"


def _img(png: bytes, alt: str, cls: str = "", width: int | None = None) -> str:
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    w = f' width="{width}"' if width else ""
    c = f' class="{cls}"' if cls else ""
    return f'<img{c}{w} src="{src}" alt="{escape(alt)}">'


def _num(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        text = f"{v:.3f}"
        return "0.000" if text == "-0.000" else text
    return escape(str(v))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f"<body>\n{body}\n</body></html>\n")


def _verdict(correct: bool | None) -> str:
    if correct is None:
        return '<span class="nj">not judged</span>'
    return '<span class="ok">correct</span>' if correct else '<span class="bad">wrong</span>'


def _maps(r: SlideReport) -> str:
    out = ['<h2>Maps</h2><div class="maps">']
    for m in r.maps:
        extra = ""
        if "members" in m.attrs:
            members = ", ".join(json.loads(str(m.attrs["members"])))
            oof = "out-of-fold" if int(m.attrs.get("out_of_fold", 0)) else "in-fold: no member held this slide out"
            extra = (f"<br>ensemble of {int(m.attrs.get('n_members', 0))} ({oof}): {escape(members)}; "
                     f"rank agreement ρ = {_num(float(m.attrs.get('rank_agreement', float('nan'))))}")
        out.append(
            f"<figure>{_img(m.png, f'{m.name} map over slide {r.slide_id}', 'map')}<figcaption><b>{escape(m.name)}</b> "
            f"— {escape(m.units)}<div class=\"bar\">low {_img(m.colorbar, f'{m.colormap} colour bar, low to high')} "
            f"high</div>{escape(m.colormap)}, {escape(m.normalisation)}; raw range {_num(m.lo)} to {_num(m.hi)}"
            f"{extra}</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


def _snr(r: SlideReport) -> str:
    if not r.snr:
        return "<h2>Evidence subsets: S/N/R</h2><p class=\"nj\">none stored</p>"
    keys = [k for k in ("keep_only_drop", "complement_degradation", "cd_gap", "phi_full", "phi_keep",
                        "phi_complement", "evidence_fraction") if any(k in nums for _, _, nums in r.snr)]
    head = "".join(f"<th>{escape(k.replace('_', ' '))}</th>" for k in keys)
    rows = "".join(f"<tr><td>{escape(n)}</td><td>{size}</td>" + "".join(f"<td>{_num(nums.get(k))}</td>" for k in keys)
                   + "</tr>" for n, size, nums in r.snr)
    return (f"<h2>Evidence subsets: S/N/R</h2><p class=\"sub\">keep-only drop: lower is better (sufficiency); "
            f"complement degradation: higher is better (necessity).</p><table><tr><th>subset</th><th>patches</th>{head}"
            f"</tr>{rows}</table>")


def _flags(r: SlideReport) -> str:
    def word(v):
        return ('<span class="nj">not judged</span>' if v is None else
                '<span class="yes">raised</span>' if v else '<span class="no">no</span>')

    rows = "".join(f"<tr><td>{escape(f.replace('_', ' '))}</td><td>{word(v)}</td><td>{escape(why)}</td></tr>"
                   for f, v, why in r.flags)
    return f"<h2>Failure flags</h2><table><tr><th>flag</th><th></th><th>why</th></tr>{rows}</table>"


def _tiles(r: SlideReport) -> str:
    if not r.top_tiles:
        return ""
    cells = []
    for i, t in enumerate(r.top_tiles, 1):
        label = f"#{i} patch {t.index} at ({t.x}, {t.y}), {r.top_map} {t.score:.4g}"
        pic = _img(t.png, f"top {i} patch of {r.top_map}: patch {t.index} at x {t.x}, y {t.y}") if t.png else ""
        cells.append(f'<div class="tile">{pic}<br>{escape(label)}</div>')
    return f"<h2>Top {len(r.top_tiles)} patches of {escape(str(r.top_map))}</h2><div class=\"tiles\">{''.join(cells)}</div>"


def _localisation(r: SlideReport) -> str:
    if r.annotated_fraction is None:
        return ""
    if not r.localisation:
        return "<h2>Localisation against the annotations</h2><p class=\"nj\">no annotated patch</p>"
    rows = "".join(
        f"<tr><td>{escape(d['map'])}</td><td>{_num(d['coverage'])} ({_num(d['coverage_chance'])})</td>"
        f"<td>{_num(d['precision'])} ({_num(d['precision_chance'])})</td>"
        f"<td>{_num(d['relevance_mass'])} ({_num(d['relevance_mass_chance'])})</td></tr>" for d in r.localisation)
    return (f"<h2>Localisation against the annotations</h2><p class=\"sub\">{100 * r.annotated_fraction:.1f} % of the "
            "patches are annotated. Top 5 % of each map's patches; chance level in brackets.</p><table><tr><th>map</th>"
            f"<th>annotation coverage</th><th>precision</th><th>relevance mass inside</th></tr>{rows}</table>")


def slide_html(r: SlideReport) -> str:
    """The slide's page: a complete HTML document (str)."""
    truth = escape(r.truth) if r.truth is not None else '<span class="nj">unknown</span>'
    notes = "".join(f"<li>{escape(n)}</li>" for n in r.notes)
    body = (f"<h1>Evidence report: {escape(r.slide_id)}</h1>"
            f"<p class=\"sub\">{r.n_patches} patches of {r.patch_size} px (level 0); evidence "
            f"{escape(r.evidence_path)}{'; slide ' + escape(r.slide_path) if r.slide_path else ''}</p>"
            f"<table><tr><th>prediction</th><td>{escape(r.prediction)}</td></tr><tr><th>truth</th><td>{truth}</td></tr>"
            f"<tr><th>verdict</th><td>{_verdict(r.correct)}</td></tr></table>"
            + _maps(r) + _snr(r) + _flags(r) + _tiles(r) + _localisation(r)
            + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""))
    return _page(f"Evidence report: {r.slide_id}", body)


def index_html(rows: list[dict], failed: dict[str, str] | None = None, unfinished: list[str] | tuple = ()) -> str:
    """The cohort index: one row per slide summary (:func:`core.cohort.report_job.summary_of`), then one
    row per slide that ``failed`` (slide id -> the error) and per slide left ``unfinished`` (not started
    because the run stopped, or held by another run); a summary of those slides is not shown."""
    failed = dict(failed or {})
    left_out = set(failed) | set(unfinished)
    rows = [s for s in rows if s["slide_id"] not in left_out]
    lines = []
    for s in sorted(rows, key=lambda d: d["slide_id"]):
        raised = ", ".join(escape(f.replace("_", " ")) for f in s["flags_raised"]) or "none"
        thumb = (_img(base64.b64decode(s["thumbnail"]), f"{s['top_map']} map of {s['slide_id']}", width=120)
                 if s.get("thumbnail") else "")
        lines.append(f"<tr><td><a href=\"{escape(slide_page_name(s['slide_id']))}\">{escape(s['slide_id'])}</a></td>"
                     f"<td>{thumb}</td><td>{escape(s['prediction'])}</td><td>{escape(s['truth'] or '–')}</td>"
                     f"<td>{_verdict(s['correct'])}</td><td>{raised}</td></tr>")
    for sid in sorted(failed):
        lines.append(f"<tr><td>{escape(sid)}</td><td></td><td colspan=\"4\"><span class=\"bad\">failed</span>: "
                     f"{escape(failed[sid])}</td></tr>")
    for sid in sorted(set(unfinished) - set(failed)):
        lines.append(f"<tr><td>{escape(sid)}</td><td></td><td colspan=\"4\"><span class=\"nj\">not reported"
                     "</span>: not started (the run stopped) or in another run; run again to finish</td></tr>")
    n_wrong = sum(1 for s in rows if s["correct"] is False)
    extra = "".join(f"; {n} {what}" for n, what in ((len(failed), "failed"),
                                                    (len(set(unfinished) - set(failed)), "not reported")) if n)
    body = (f"<h1>Evidence reports</h1><p class=\"sub\">{len(rows)} slide(s); {n_wrong} predicted wrong{extra}. "
            "Click a slide for its report.</p><table><tr><th>slide</th><th>map</th><th>prediction</th><th>truth</th>"
            f"<th>verdict</th><th>failure flags</th></tr>{''.join(lines)}</table>")
    return _page("Evidence reports", body)
