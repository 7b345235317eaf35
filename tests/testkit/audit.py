"""A tiny audited cohort: six real digit bags written as features + manifest, and a GCE checkpoint."""

from __future__ import annotations

from pathlib import Path

from core.data.digits import make_digit_bags, write_digit_bags
from core.models.checkpoint import save_checkpoint
from testkit.explain import abmil, gce


def digit_cohort(tmp_path: Path, classes: tuple[str, str]) -> tuple[Path, Path, Path]:
    """``(manifest, checkpoint, tmp_path)``: 6 digit bags (12-20 instances) and an untrained
    ABMIL + GCE checkpoint (64-d features, 2 classes named ``classes``)."""
    bags = make_digit_bags(6, seed=0, min_size=12, max_size=20)
    manifest = write_digit_bags(tmp_path / "digits", bags)
    model = gce(abmil(d=64, c=2, hidden=8))
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": list(classes)})
    return manifest, ckpt, tmp_path
