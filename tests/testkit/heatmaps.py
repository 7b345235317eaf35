"""Evidence files for the demo cohort's slides, made from its truth (no training): for the heatmaps tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.evidence.evidence_file import Evidence, Subset, write_evidence

P = 256  # the demo cohort's cell side (level-0 px)


def tissue_coords(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) int64 corners of the non-background cells and (N,) bool: epidermis (the true evidence)."""
    grid = np.array([list(r) for r in cells])
    rows, cols = np.nonzero(grid != "B")
    coords = np.stack([cols * P, rows * P], axis=1).astype(np.int64)
    return coords, grid[rows, cols] == "E"


def write_demo_evidence(truth_json: Path, out_dir: Path, *, gain: dict[str, float] | None = None,
                        survival: bool = False) -> dict[str, Path]:
    """``<id>.evidence.h5`` per demo slide: attention high on epidermis, a signed ``ig``, a gate, subsets.

    ``gain[slide_id]`` multiplies that slide's attention (two slides on different scales). Returns
    slide id -> evidence path.
    """
    doc = json.loads(Path(truth_json).read_text())["slides"]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for k, (sid, slide) in enumerate(sorted(doc.items())):
        coords, epi = tissue_coords(slide["cells"])
        rng = np.random.default_rng(k)
        att = (0.1 + 0.8 * epi + 0.1 * rng.random(len(coords))) * (gain or {}).get(sid, 1.0)
        pred = ({"risk": np.array([0.5 + k], np.float32), "task": "survival", "predicted_class": -1} if survival else
                {"probs": np.array([0.3, 0.7], np.float32), "classes": ("negative", "positive"), "predicted_class": 1})
        top = np.argsort(-att)[:5]
        ev = Evidence(slide_id=sid, coords=coords, scores={"attention": att, "ig": att - np.median(att)},
                      gates=1.0 / (1.0 + np.exp(-8 * (att - 0.5))),
                      subsets={"truth": Subset(np.flatnonzero(epi).astype(np.int64)),
                               "top5": Subset(np.sort(top).astype(np.int64), "k reached")}, model="test", **pred)
        paths[sid] = out_dir / f"{sid}.evidence.h5"
        write_evidence(paths[sid], ev)
    return paths


def copy_evidence(evidence: dict[str, Path], folder: Path) -> Path:
    """A private copy of the evidence files in ``folder`` (for tests that damage or change one)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for p in evidence.values():
        shutil.copy(p, folder / p.name)
    return folder


def truncate_evidence(folder: Path, slide_id: str) -> Path:
    """Cut ``folder/<slide_id>.evidence.h5`` to its first 300 bytes (not an HDF5 file any more); returns its path."""
    bad = folder / f"{slide_id}.evidence.h5"
    bad.write_bytes(bad.read_bytes()[:300])
    return bad
