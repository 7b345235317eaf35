"""Computing the cohort table from manifest + features + checkpoint (no audit folder)."""

from __future__ import annotations

import threading

import pytest
import torch

from core.errors import EvidentError
from core.hashing import file_sha256
from core.review.cohort_table import compute_cohort, model_mismatch
from core.review.intervene import Cancelled


@pytest.fixture
def cohort_inputs(review_project, tmp_path):
    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    torch.manual_seed(0)
    cfg = HostConfig(in_dim=8, n_outputs=2, hidden=16, attn_hidden=8)
    ckpt = tmp_path / "abmil.pt"
    save_checkpoint(ckpt, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict(),
                                                     "task": "classification", "classes": ["benign", "tumour"]})
    stem = review_project["features"].stem
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"slide_id,case_id,label,slide_path\n{stem},c1,tumour,{review_project['slide']}\n"
                        "lost,c2,benign,lost.svs\n")
    return manifest, review_project["features"].parent, ckpt


def test_compute_cohort_matches_the_audit_layout(cohort_inputs):
    manifest, features, ckpt = cohort_inputs
    seen = []
    c = compute_cohort(manifest, features, ckpt, progress=lambda i, n, sid: seen.append((i, n, sid)))
    assert [r.slide_id for r in c.rows] == ["cmu_small_region"] and seen[-1][:2] == (2, 2)
    assert c.missing[0][0] == "lost" and "no feature file" in c.missing[0][1]
    row = c.rows[0]
    assert row.label == "tumour" and row.prediction in ("benign", "tumour")
    assert {"phi", "aupc_drop_attention", "keep_only_drop_attention"} <= set(c.numbers)
    assert 0.5 <= row.numbers["phi"] <= 1.0 and "case_failure" in row.flags
    assert row.flags["case_failure"] == (row.prediction != "tumour")
    assert row.features_path == features / "cmu_small_region.h5" and row.slide_path.exists()
    assert model_mismatch(c, digest=file_sha256(ckpt)) is None


def test_compute_cohort_cancel_and_bad_inputs(cohort_inputs, tmp_path):
    manifest, features, ckpt = cohort_inputs
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        compute_cohort(manifest, features, ckpt, cancel=stop)
    with pytest.raises(EvidentError, match="manifest not found"):
        compute_cohort(tmp_path / "none.csv", features, ckpt)


@pytest.mark.parametrize("task", ["survival", "regression"])
def test_compute_cohort_names_the_task_it_does_not_support(cohort_inputs, tmp_path, task):
    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.registry import build_host

    manifest, features, _ = cohort_inputs
    cfg = HostConfig(in_dim=8, n_outputs=1, hidden=16, attn_hidden=8, task=task)
    ckpt = tmp_path / f"{task}.pt"
    save_checkpoint(ckpt, build_host("abmil", cfg), {"host": "abmil", "host_config": cfg.to_dict(), "task": task,
                                                     "classes": []})
    with pytest.raises(EvidentError, match=f"computing a {task} cohort here is not supported"):
        compute_cohort(manifest, features, ckpt)
