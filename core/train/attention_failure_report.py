"""Tables of the attention-failure benchmark (:mod:`core.train.attention_failure_bench`), in Markdown.

Cells are mean ± std over every held-out fold of every seed of a (scenario, host, model) (3 folds ×
3 seeds = 9 by default); the goal tables say how they are computed. Read by docs/results_explain.md §9
and docs/results_gce.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["RULES", "load_records", "markdown_report", "pooled"]

RULES = ("attention", "gce_gate", "gce", "ig", "single", "leave_one_out", "lrp", "search_sn", "random")
FLAGS = ("case_failure", "artifact_evidence", "low_sufficiency", "low_necessity", "semantic_mismatch", "severe",
         "artifact_evidence_sn")
ORACLE_FLAGS = ("artifact_evidence_oracle", "artifact_evidence_sn_oracle")  #: records written after the tissue runs
CD_TARGET = 0.01


def load_records(folder) -> list[dict]:
    """Every ``*.json`` record of ``folder``, sorted by name."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(folder).glob("*.json"))]


def _model(rec: dict) -> str:
    s = rec["setting"]
    return f"+ GCE ({s['anchors']}, {s['options']})" if s["gce"] else "alone"


def _groups(records: list[dict]) -> dict[tuple, list[dict]]:
    """``{(scenario, host, model): [fold dicts of every seed]}``."""
    out: dict[tuple, list[dict]] = {}
    for r in records:
        out.setdefault((r["setting"]["scenario"], r["setting"]["host"], _model(r)), []).extend(r["folds"])
    return out


def pooled(folds: list[dict], key: str) -> tuple[float, float]:
    """(mean, std) of ``key`` over folds, NaN and missing ignored."""
    v = np.array([f.get(key, math.nan) for f in folds], dtype=np.float64)
    v = v[np.isfinite(v)]
    return (float(v.mean()), float(v.std())) if v.size else (math.nan, math.nan)


def _cell(folds, key, digits: int = 3) -> str:
    m, s = pooled(folds, key)
    return "–" if math.isnan(m) else f"{m:.{digits}f} ± {s:.{digits}f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _rule_rows(scenario: str, groups: dict) -> list[str]:
    head = ["host", "model", "rule", "prec", "rec", "compl. degr. (acc) ↑", "compl. degr. (Φ) ↑",
            "keep-only drop (acc) ↓", "C-D gap ↓", "frac."]
    extra = {"conjunctive": ("both types", "both"), "shortcut": ("pen-mark share", "artefact")}.get(scenario)
    if extra:
        head.append(extra[0])
    regions = any("attention/regions" in f for fs in groups.values() for f in fs)
    if regions:
        head.append("regions hit")
    rows = []
    for (sc, host, model), folds in sorted(groups.items()):
        if sc != scenario or (model.startswith("+ GCE") and model != "+ GCE (exemplars, options)"):
            continue
        for rule in RULES:
            if not any(f"{rule}/precision" in f for f in folds):
                continue
            name = rule + (" (found bags)" if rule == "search_sn" else "")
            row = [host, model, name] + [_cell(folds, f"{rule}/{k}") for k in (
                "precision", "recall", "complement_degradation", "complement_degradation_phi", "keep_only_drop",
                "cd_gap", "evidence_fraction")]
            if extra:
                row.append(_cell(folds, f"{rule}/{extra[1]}"))
            if regions:
                row.append(_cell(folds, f"{rule}/regions"))
            rows.append(row)
    return _table(head, rows)


def _overview(groups: dict) -> list[str]:
    head = ["scenario", "host", "model", "acc", "AUC", "chance prec (\\|T\\|/N)", "chance rec (k/N)",
            "S_N found (pos. bags)", "evidence sets / pos. bag"]
    rows = [[sc, host, model] + [_cell(f, k) for k in ("accuracy", "auc", "chance/precision", "chance/recall",
                                                        "sn_found", "n_sets")]
            for (sc, host, model), f in sorted(groups.items())]
    return _table(head, rows)


def _goal_necessity(groups: dict) -> list[str]:
    head = ["host", "model", "S_N prec", "S_N compl. degr. (acc)", "attention top-\\|S_N\\| (acc)", "attention top-5% (acc)",
            "S_N (Φ)", "top-\\|S_N\\| (Φ)", "top-5% (Φ)", "ratio vs same k", "ratio vs 5%", "met (same k)", "met (5%)"]
    rows = []
    for (sc, host, model), f in sorted(groups.items()):
        if sc != "redundant":
            continue
        sn, at, a5 = (pooled(f, f"found/{r}/complement_degradation")[0] for r in ("search_sn", "attention_at_sn", "attention"))
        prec = pooled(f, "found/search_sn/precision")[0]
        ratio = lambda a, b: math.inf if b <= 0 and a > 0 else (a / b if b > 0 else math.nan)
        r_same, r_5 = ratio(sn, at), ratio(sn, a5)
        met = lambda r, prec=prec: "yes" if r >= 2 and prec >= 0.8 else "no"
        rows.append([host, model, f"{prec:.3f}"]
                    + [_cell(f, f"found/{r}/complement_degradation") for r in ("search_sn", "attention_at_sn", "attention")]
                    + [_cell(f, f"found/{r}/complement_degradation_phi") for r in ("search_sn", "attention_at_sn", "attention")]
                    + [f"{r_same:.2f}", f"{r_5:.2f}", met(r_same), met(r_5)])
    return _table(head, rows)


def _same_k(groups: dict) -> list[str]:
    """Why S_N and attention top-|S_N| remove about as much: how often they are the same set."""
    head = ["host", "model", "\\|T\\| (pos. bags)", "regions / pos. bag", "\\|S_N\\| (pos. bags)", "k = ⌈5 % N⌉",
            "S_N inside attention top-\\|S_N\\|", "S_N = attention top-\\|S_N\\| (bags)",
            "S_N compl. degr. (acc)", "attention top-\\|S_N\\| (acc)"]
    rows = []
    for (sc, host, model), f in sorted(groups.items()):
        if sc != "redundant":
            continue
        rows.append([host, model, _cell(f, "found/truth_size", 2), _cell(f, "n_regions", 2), _cell(f, "found/sn_size", 2),
                     _cell(f, "k5", 2), _cell(f, "found/sn_overlap"), _cell(f, "found/sn_identical"),
                     _cell(f, "found/search_sn/complement_degradation"),
                     _cell(f, "found/attention_at_sn/complement_degradation")])
    return _table(head, rows)


def _goal_cd_gap(records: list[dict]) -> list[str]:
    cells: dict[tuple, dict[str, float]] = {}
    for r in records:
        s = r["setting"]
        if s["scenario"] != "redundant" or not s["gce"]:
            continue
        cells.setdefault((s["seed"], s["host"], s["anchors"]), {})[s["options"]] = pooled(r["folds"], "gce/cd_gap")[0]
    rows, hits, runs = [], {"defaults": 0, "options": 0}, {"defaults": 0, "options": 0}
    for key in sorted(cells):
        row = [str(key[0]), key[1], key[2]]
        for opt in ("defaults", "options"):
            v = cells[key].get(opt, math.nan)
            hits[opt] += int(v <= CD_TARGET)
            runs[opt] += int(not math.isnan(v))
            row.append("not run" if math.isnan(v) else (f"**{v:.3f}**" if v <= CD_TARGET else f"{v:.3f}"))
        rows.append(row)
    lines = _table(["seed", "host", "anchors", "C-D gap, spec defaults", "C-D gap, options"], rows)
    lines.append("")
    lines.append(f"Settings with C-D gap ≤ {CD_TARGET}: spec defaults {hits['defaults']} of {runs['defaults']} run, "
                 f"options {hits['options']} of {runs['options']} run (goal: ≥ 10 of 12).")
    return lines


def _shortcut(groups: dict) -> list[str]:
    head = ["host", "model", "bags (shortcut / other)", "acc shortcut", "acc other"] + \
        [f"{f} (shortcut / other)" for f in FLAGS]
    rows = []
    for (sc, host, model), f in sorted(groups.items()):
        if sc != "shortcut":
            continue
        n_s, n_o = sum(x.get("shortcut/n", 0) for x in f), sum(x.get("other/n", 0) for x in f)
        row = [host, model, f"{n_s} / {n_o}", _cell(f, "shortcut/accuracy", 2), _cell(f, "other/accuracy", 2)]
        row += [f"{pooled(f, f'shortcut/flag/{g}')[0]:.2f} / {pooled(f, f'other/flag/{g}')[0]:.2f}" for g in FLAGS]
        rows.append(row)
    lines = _table(head, rows)
    marked = ("case_failure", "artifact_evidence", "artifact_evidence_sn") + tuple(
        g for g in ORACLE_FLAGS if any(f"marked/flag/{g}" in x for fs in groups.values() for x in fs))
    head = ["host", "model", "bags (marked / unmarked)"] + [f"{f} (marked / unmarked)" for f in marked]
    rows = []
    for (sc, host, model), f in sorted(groups.items()):
        if sc != "shortcut" or not any("marked/n" in x for x in f):
            continue
        row = [host, model, f"{sum(x.get('marked/n', 0) for x in f)} / {sum(x.get('unmarked/n', 0) for x in f)}"]
        row += [f"{pooled(f, f'marked/flag/{g}')[0]:.2f} / {pooled(f, f'unmarked/flag/{g}')[0]:.2f}"
                for g in marked]
        rows.append(row)
    return lines + ["", "Test bags with vs without pen marks (any label):", ""] + _table(head, rows)


def markdown_report(records: list[dict]) -> str:
    """All tables: overview, per-scenario rule tables, the two goals, the shortcut audit."""
    if not records:
        return "(no records)"
    groups = _groups(records)
    r0 = records[0]
    seeds = sorted({r["setting"]["seed"] for r in records})
    source = {"digits": "Digit bags", "tissue": "Tissue bags (real CMU-1 tissue, stain_texture_v1 features)"}[
        r0.get("source", "digits")]
    lines = [f"{source}: {r0['n_bags']} per scenario, {r0['bag_size'][0]}–{r0['bag_size'][1]} instances, "
             f"{r0['n_folds']} folds, {r0['epochs']} epochs, lr {r0['lr']}, seeds {seeds}; "
             f"{sum(r['seconds'] for r in records):.0f} s of training and scoring in all.", "", "### Overview", ""]
    lines += _overview(groups)
    for sc in ("redundant", "conjunctive", "shortcut"):
        if any(k[0] == sc for k in groups):
            lines += ["", f"### {sc}: every rule (top-k rules at k = ⌈5 % N⌉)", ""] + _rule_rows(sc, groups)
    if any(k[0] == "redundant" for k in groups):
        lines += ["", "### Goal: necessary subsets on redundant evidence (bags where S_N was found)", ""]
        lines += _goal_necessity(groups)
        if any("found/sn_overlap" in x for k, f in groups.items() if k[0] == "redundant" for x in f):
            lines += ["", "### Same k: how much of S_N is attention's own top-\\|S_N\\| (bags where S_N was found)", ""]
            lines += _same_k(groups)
        lines += ["", "### Goal: GCE C-D gap on redundant evidence (mean over the held-out folds)", ""]
        lines += _goal_cd_gap(records)
    if any(k[0] == "shortcut" for k in groups):
        lines += ["", "### Shortcut: accuracy and failure flags, shortcut bags vs the rest", ""] + _shortcut(groups)
    return "\n".join(lines)
