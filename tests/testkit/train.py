"""Tiny synthetic cohorts for the training tests (a bag is positive when it holds a shifted instance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.data.manifest import ManifestRow, write_manifest
from core.models.base import HostConfig


def synthetic_bags(n_bags: int = 24, d: int = 8, seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(seed)
    feats, labels = [], []
    for i in range(n_bags):
        x = rng.normal(size=(int(rng.integers(5, 15)), d)).astype(np.float32)
        y = i % 2
        if y:
            x[0, :4] += 4.0
        feats.append(x)
        labels.append(y)
    return feats, labels


def tiny_config() -> HostConfig:
    return HostConfig(in_dim=1, n_outputs=1, hidden=8, attn_hidden=4, dropout=0.0)


def write_cohort(root: Path, n_bags: int = 20, survival: bool = False) -> tuple[Path, Path]:
    """Write ``root/features/*.h5`` and ``root/manifest.csv``; returns (manifest, features dir)."""
    feats, labels = synthetic_bags(n_bags)
    rows = []
    for i, (x, y) in enumerate(zip(feats, labels)):
        sid = f"s{i:02d}"
        coords = np.stack([np.arange(len(x)) * 256, np.zeros(len(x))], 1).astype(np.int64)
        write_bag(root / "features" / f"{sid}.h5", FeatureBag(x, coords, 256, sid))
        if survival:
            rows.append(ManifestRow(slide_id=sid, case_id=f"c{i // 2}", time=float(10 - 5 * y + i % 3), event=int(i % 3 != 0)))
        else:
            rows.append(ManifestRow(slide_id=sid, case_id=f"c{i // 2}", label=["benign", "tumour"][y]))
    write_manifest(root / "manifest.csv", rows)
    return root / "manifest.csv", root / "features"
