"""The ``artifact_evidence`` flag on a real slide: evidence put on background on purpose is flagged."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from core.cli import main
from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.diagnostics.artifacts import artifact_share, slide_artifact_scores
from core.diagnostics.failures import FailureThresholds, classify_failures
from core.errors import EvidentError
from core.extract.grid import grid_coords
from core.extract.tissue import saturation
from core.models.checkpoint import save_checkpoint
from core.slide.reader import open_slide
from testkit.explain import abmil

PATCH = 128
D = 8


@pytest.fixture(scope="module")
def grid(cmu_slide):
    with open_slide(cmu_slide) as r:
        w, h = r.dimensions
    coords = grid_coords(w, h, PATCH)  # every grid position, background included
    return coords, slide_artifact_scores(cmu_slide, coords, PATCH)  # tissue: < 0.25 (pen/fold/blur parts are small, not 0)


def test_scores_follow_the_pixels(cmu_slide, grid):
    coords, scores = grid
    assert scores.shape == (len(coords),) and scores.dtype == np.float64 and np.all((scores >= 0) & (scores <= 1))
    bg, tissue = np.flatnonzero(scores > 0.99), np.flatnonzero(scores < 0.25)
    assert len(bg) >= 20 and len(tissue) >= 20, "the CMU-1 region holds both glass and tissue"
    with open_slide(cmu_slide) as r:
        def mean_sat(idx):
            return np.mean([saturation(r.read_region(tuple(int(v) for v in coords[i]), 0, (PATCH, PATCH))).mean() for i in idx[:20]])

        assert mean_sat(bg) < 15 < 40 < mean_sat(tissue)  # glass is grey, stained tissue is coloured


def test_flag_on_background_evidence_only(grid):
    _, scores = grid
    bg, tissue = np.flatnonzero(scores > 0.99)[:20], np.flatnonzero(scores < 0.25)[:20]
    flag = lambda ev, **kw: classify_failures(correct=True, evidence=ev, artifact_scores=scores,
                                              thresholds=FailureThresholds(**kw))["artifact_evidence"]
    assert flag(bg) and not flag(tissue)
    mixed = np.concatenate([bg[:8], tissue[:12]])  # 40 % artifact
    assert artifact_share(mixed, scores) == pytest.approx(0.4)
    assert not flag(mixed) and flag(mixed, artifact_share=0.3)
    assert not flag(bg, min_tissue=0.0)  # nothing has less tissue than none


def test_wrong_slide_is_one_clear_error(cmu_slide, grid):
    coords, _ = grid
    with pytest.raises(EvidentError, match="outside the slide"):
        slide_artifact_scores(cmu_slide, coords + 10_000, PATCH)


def _bag_with_evidence_on(host, n: int, evidence: np.ndarray) -> np.ndarray:
    """(n, D) features whose attention top-k is exactly ``evidence`` (one vector there, another elsewhere)."""
    rng = np.random.default_rng(0)
    cand = rng.standard_normal((16, D)).astype(np.float32)
    with torch.no_grad():
        z = host.embed(torch.from_numpy(cand))[1].numpy()
    x = np.repeat(cand[np.argmin(z)][None], n, axis=0)
    x[evidence] = cand[np.argmax(z)]
    return x


def test_audit_flags_background_evidence_end_to_end(cmu_slide, grid, tmp_path, capsys):
    coords, scores = grid
    n = len(coords)
    k = int(np.ceil(0.05 * n))
    host = abmil(d=D, c=2, hidden=8)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, host, {"host": "abmil", "host_config": host.config.to_dict(), "task": "classification",
                                 "classes": ["0", "1"]})
    (tmp_path / "features").mkdir()
    picks = {"on_glass": np.flatnonzero(scores > 0.99)[:k], "on_tissue": np.flatnonzero(scores < 0.25)[:k]}
    for sid, ev in picks.items():
        write_bag(tmp_path / "features" / f"{sid}.h5",
                  FeatureBag(_bag_with_evidence_on(host, n, ev), coords, patch_size_level0=PATCH, slide_id=sid))
    manifest = tmp_path / "m.csv"
    manifest.write_text("slide_id,label,slide_path\n" + "".join(f"{s},1,{cmu_slide}\n" for s in picks))
    args = ["audit", "--manifest", str(manifest), "--features", str(tmp_path / "features"), "--model", str(ckpt),
            "--methods", "attention,random", "--minimal-k", ""]
    assert main([*args, "--out", str(tmp_path / "report")]) == 0
    rows = {r["slide_id"]: r for r in csv.DictReader((tmp_path / "report" / "per_slide.csv").read_text().splitlines())}
    assert rows["on_glass"]["fail_artifact_evidence"] == "1" and float(rows["on_glass"]["artifact_share"]) == 1.0
    assert rows["on_tissue"]["fail_artifact_evidence"] == "0" and float(rows["on_tissue"]["artifact_share"]) == 0.0
    assert float(rows["on_glass"]["artifact_share_background"]) == 1.0  # which artefact: the parts' columns
    assert all(float(rows["on_tissue"][f"artifact_share_{p}"]) == 0.0 for p in ("background", "pen", "fold", "blur"))
    # a slide the manifest names but that is missing: one clear error, no report
    manifest.write_text("slide_id,label,slide_path\non_glass,1,nowhere.svs\n")
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "slide file of 'on_glass' not found" in err[0] and not (tmp_path / "r2").exists()
