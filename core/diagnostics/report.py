"""Audit report files: per-slide CSV, cohort JSON, markdown tables and PNG plots.

:func:`write_report` builds every file in a hidden staging folder inside OUT and moves them into
place only when all are complete, so an error or Ctrl-C leaves no partial report behind.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_json, ensure_writable_dir, staging_dir

__all__ = ["REPORT_FILES", "evidence_sets_line", "markdown_summary", "write_report"]

REPORT_FILES = ("per_slide.csv", "cohort.json", "summary.md", "aupc.png", "snr.png", "failures.png")


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown_summary(summary: dict) -> str:
    """Markdown tables of the cohort summary (AUPC per method, S/N/R per rule, minimal subsets, failures)."""
    lines = [(f"# Evidence audit\n\nSlides: {summary['n_slides']} (curves over {summary['n_included']} correctly "
              "predicted with probability > 0.5)\n"), "## Patch dropping / insertion (MoRF)\n",
             "| method | AUPC drop ↓ | AUPC insert ↑ | faithfulness gain ↑ | p drop vs random | n |", "|---|---|---|---|---|---|"]
    for m, r in sorted(summary["aupc"].items(), key=lambda kv: kv[1]["aupc_drop_mean"]):
        lines.append(f"| {m} | {_f(r['aupc_drop_mean'])} ± {_f(r['aupc_drop_std'])} | {_f(r['aupc_insert_mean'])} ± "
                     f"{_f(r['aupc_insert_std'])} | {_f(r['gain_mean'])} ± {_f(r['gain_std'])} | "
                     f"{_f(r.get('p_drop_vs_random'), 4)} | {r['n']} |")
    if summary["snr"]:
        lines += ["\n## Same-budget S/N/R\n", ("| rule | keep-only drop ↓ | evidence sufficiency ↑ | complement degradation ↑ "
                  "| keep-only drop Φ ↓ | complement degradation Φ ↑ | C-D gap ↓ | fraction |"), "|---|---|---|---|---|---|---|---|"]
        for rule, r in summary["snr"].items():
            lines.append(f"| {rule} | {_f(r['keep_only_drop'])} | {_f(r['evidence_sufficiency'])} | "
                         f"{_f(r['complement_degradation'])} | {_f(r['keep_only_drop_phi'])} | "
                         f"{_f(r['complement_degradation_phi'])} | {_f(r['cd_gap'])} | {_f(r['evidence_fraction'])} |")
    if summary["minimal"]:
        lines += ["\n## Minimal sufficient subsets\n", ("| k / policy | subsets per slide | % ≥ 2 | % ≥ 3 | first drop | "
                  "remove-union-1 | remove-union-2 | remove-union-3 |"), "|---|---|---|---|---|---|---|---|"]
        for k, r in summary["minimal"].items():
            lines.append(f"| {k} | {_f(r['mean_subsets'], 2)} | {_f(r['pct_ge2'], 1)} | {_f(r['pct_ge3'], 1)} | "
                         f"{_f(r['first_drop'])} | {_f(r['remove_union_1'])} | {_f(r['remove_union_2'])} | {_f(r['remove_union_3'])} |")
    es = summary.get("evidence_sets")
    if es:
        lines += ["\n## Evidence sets (disjoint sufficient subsets)\n",
                  evidence_sets_line(es, summary.get("settings", {}).get("evidence_search", {}))]
    loc = summary.get("localisation")
    if loc:
        pct = round(100 * loc["top_fraction"])
        lines += [f"\n## Localisation against annotations ({loc['n_slides']} annotated slides)\n",
                  (f"Top {pct}% of patches for coverage/precision; Dice and FROC on each map min–max scaled and cut at "
                   f"{loc['threshold']}. Chance levels in brackets.\n"),
                  "| method | coverage ↑ | precision ↑ | relevance mass ↑ | Dice ↑ | FROC ↑ |", "|---|---|---|---|---|---|"]
        for m, r in sorted(loc["methods"].items(), key=lambda kv: -np.nan_to_num(kv[1]["relevance_mass"])):
            lines.append(f"| {m} | {_f(r['coverage'])} ({_f(r['coverage_chance'])}) | {_f(r['precision'])} "
                         f"({_f(r['precision_chance'])}) | {_f(r['relevance_mass'])} ({_f(r['relevance_mass_chance'])}) | "
                         f"{_f(r['dice'])} ({_f(r['dice_chance'])}) | {_f(r['froc'])} ({_f(r['froc_chance'])}) |")
    lines += ["\n## Failure taxonomy\n", "| flag | slides |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary["failures"].items()]
    return "\n".join(lines) + "\n"


def evidence_sets_line(es: dict, settings: dict) -> str:
    """The cohort summary line of the evidence search."""
    how = ", ".join(f"{k} {v}" for k, v in settings.items())
    return (f"{es['slides']} slides: {_f(es['mean_sets'], 2)} evidence sets per slide, {_f(es['pct_ge2'], 1)}% of slides "
            f"with ≥ 2 and {_f(es['pct_ge3'], 1)}% with ≥ 3; mean set size {_f(es['mean_set_size'], 1)} patches; "
            f"a sufficient-and-necessary subset in {_f(es['pct_sufficient_necessary'], 1)}% of slides "
            f"(mean size {_f(es['mean_sufficient_necessary_size'], 1)})" + (f" [{how}]" if how else "") + ".\n")


def _plots(summary: dict, folder: Path) -> None:
    import matplotlib  # local: matplotlib only when used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # local: matplotlib only when used

    def bar(path, names, values, errors, ylabel, title):
        fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(names) + 2), 3.2), dpi=100)
        ax.bar(range(len(names)), values, yerr=errors, color="#4477aa", capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)

    a = summary["aupc"]
    bar(folder / "aupc.png", list(a), [r["aupc_drop_mean"] for r in a.values()], [r["aupc_drop_std"] for r in a.values()],
        "AUPC (drop, MoRF)", "Patch dropping: lower is better")
    s = summary["snr"]
    bar(folder / "snr.png", list(s), [r["keep_only_drop_phi"] for r in s.values()], None,
        "keep-only drop of Φ", "Same-budget sufficiency: lower is better")
    f = summary["failures"]
    bar(folder / "failures.png", list(f), list(f.values()), None, "slides", "Failure taxonomy")


def write_report(out: str | os.PathLike, rows: list[dict], summary: dict) -> list[Path]:
    """Write :data:`REPORT_FILES` into ``out``; returns their paths."""
    root = ensure_writable_dir(out)
    with staging_dir(root, "audit") as stage:
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        with open(stage / "per_slide.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
        atomic_write_json(stage / "cohort.json", summary)
        (stage / "summary.md").write_text(markdown_summary(summary), encoding="utf-8")
        _plots(summary, stage)
        for name in REPORT_FILES:
            os.replace(stage / name, root / name)
        return [root / n for n in REPORT_FILES]
