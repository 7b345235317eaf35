"""Digit bags: a MIL benchmark with known evidence, built from real handwritten digits.

Instances are the 1,797 real 8×8 handwritten digits bundled with scikit-learn
(``sklearn.datasets.load_digits``, UCI optical digits); an instance's features are its 64 pixel
values / 16 (in [0, 1]). A bag is positive iff it contains the target digit (default 9); the
target-digit instances are the known evidence. Bag sizes are uniform in [min_size, max_size];
a positive bag holds between 1 and ``ceil(max_fraction · n)`` target instances. Half of the bags
are positive. Everything is deterministic given the seed. Images are reused across bags (there are
only 1,797), each at most once per bag. Instances sit on a synthetic grid (as in
:mod:`core.data.mil_csv`) so the viewer can draw them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_json, ensure_writable_dir
from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.data.manifest import ManifestRow, write_manifest
from core.data.mil_csv import synthetic_grid_coords
from core.errors import EvidentError

__all__ = ["PATCH_SIZE", "DigitBag", "make_digit_bags", "read_evidence_truth", "write_digit_bags"]

PATCH_SIZE = 8


@dataclass(frozen=True, eq=False)
class DigitBag:
    """One digit bag.

    Attributes
    ----------
    slide_id
        ``digits_<i>``.
    features
        (N, 64) float32 pixels / 16.
    digits
        (N,) int64 the digit shown by each instance.
    label
        1 if the bag holds the target digit, else 0.
    evidence
        (K,) int64 sorted indices of the target-digit instances (empty for negative bags).
    fold
        Cross-validation fold (stratified by label).
    """

    slide_id: str
    features: np.ndarray
    digits: np.ndarray
    label: int
    evidence: np.ndarray
    fold: int

    def to_feature_bag(self) -> FeatureBag:
        """As a :class:`FeatureBag` on a synthetic grid of 8-pixel cells."""
        coords, cols, rows = synthetic_grid_coords(self.features.shape[0], PATCH_SIZE)
        attrs = {"patch_size": PATCH_SIZE, "patch_size_level0": PATCH_SIZE, "overlap": 0,
                 "level0_width": cols * PATCH_SIZE, "level0_height": rows * PATCH_SIZE,
                 "coords_synthetic": True}
        return FeatureBag(self.features, coords, PATCH_SIZE, self.slide_id, "", attrs)


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 real 8 x 8 sklearn digits: features (1797, 64) float32 in [0, 1], labels (1797,) int64."""
    from sklearn.datasets import load_digits  # local: sklearn only when used

    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def balanced_labels_and_folds(n_bags: int, n_folds: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n_bags,) labels, half 1 and half 0 in ``rng``'s order, and (n_bags,) int64 folds stratified by label."""
    labels = np.array([i % 2 for i in range(n_bags)])
    rng.shuffle(labels)
    folds = np.zeros(n_bags, dtype=np.int64)
    for lab in (0, 1):
        idx = np.flatnonzero(labels == lab)
        folds[idx] = np.arange(idx.size) % n_folds
    return labels, folds


def make_digit_bags(
    n_bags: int = 100,
    *,
    target: int = 9,
    min_size: int = 20,
    max_size: int = 200,
    max_fraction: float = 0.1,
    n_folds: int = 5,
    seed: int = 0,
) -> list[DigitBag]:
    """Build ``n_bags`` digit bags (see the module docstring)."""
    x, y = digit_images()
    pos_pool, neg_pool = np.flatnonzero(y == target), np.flatnonzero(y != target)
    rng = np.random.default_rng(seed)
    labels, folds = balanced_labels_and_folds(n_bags, n_folds, rng)
    bags = []
    for b in range(n_bags):
        n = int(rng.integers(min_size, max_size + 1))
        k = int(rng.integers(1, max(1, math.ceil(max_fraction * n)) + 1)) if labels[b] else 0
        members = np.concatenate([rng.choice(pos_pool, k, replace=False), rng.choice(neg_pool, n - k, replace=False)])
        members = members[rng.permutation(n)]
        digits = y[members]
        bags.append(DigitBag(f"digits_{b:03d}", x[members], digits, int(labels[b]),
                             np.flatnonzero(digits == target).astype(np.int64), int(folds[b])))
    return bags


def write_digit_bags(out: str | os.PathLike, bags: list[DigitBag]) -> Path:
    """Write ``OUT/features/<id>.h5`` (TRIDENT layout), ``OUT/manifest.csv``, ``OUT/evidence_truth.json``
    and ``OUT/annotations/<id>.geojson``.

    The manifest has ``slide_id``, ``case_id``, ``label`` (``"0"``/``"1"``), ``fold``,
    ``features_path`` (relative to OUT); the truth file maps slide id -> sorted evidence indices.
    Each positive bag's evidence (the target digits' synthetic patch squares, merged) is also written
    as a QuPath GeoJSON annotation classified ``"target digit"``, so ``evident train --annotations``
    and ``evident audit --annotations`` can use it. Every file is written atomically. Returns the
    manifest path.
    """
    import shapely  # local: shapely only when used
    from shapely.geometry import box  # local: shapely only when used

    from core.data.annotation import Annotation  # local: pulls in shapely
    from core.data.annotations import write_geojson  # local: pulls in shapely

    root = ensure_writable_dir(out)
    ensure_writable_dir(root / "features")
    rows = []
    for bag in bags:
        rel = f"features/{bag.slide_id}.h5"
        write_bag(root / rel, bag.to_feature_bag())
        rows.append(ManifestRow(slide_id=bag.slide_id, case_id=bag.slide_id, label=str(bag.label),
                                fold=bag.fold, features_path=rel))
        if len(bag.evidence):
            fb = bag.to_feature_bag()
            squares = [box(x, y, x + PATCH_SIZE, y + PATCH_SIZE) for x, y in fb.coords[bag.evidence]]
            ensure_writable_dir(root / "annotations")
            write_geojson(root / "annotations" / f"{bag.slide_id}.geojson",
                          [Annotation(geometry=shapely.union_all(squares), classification="target digit", name=None,
                                      properties={})])
    atomic_write_json(root / "evidence_truth.json", {b.slide_id: b.evidence.tolist() for b in bags})
    write_manifest(root / "manifest.csv", rows)
    return root / "manifest.csv"


def read_evidence_truth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``evidence_truth.json``: slide id -> (K,) int64 indices."""

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return {str(k): np.asarray(v, dtype=np.int64).reshape(-1) for k, v in doc.items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise EvidentError(p, f"not an evidence-truth file ({exc})") from None
