"""A small real regression cohort: Musk1 bags whose target is the bag mean of one held-out feature.

Musk1 (real molecules; ``core.data.realdata``) has 92 bags of conformations with 166 real
measurements each. The target of a bag is the mean over its instances of feature ``column``
(default 0); that column is removed from the instance features the model sees, so the model can
only predict it from the other 165 real measurements (which correlate with it). Nothing is
synthetic: the target is a real property of each real bag, and a model beats the mean predictor
only where the other features carry it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from core.data.bags import write_bag
from core.data.manifest import ManifestRow, write_manifest
from core.data.mil_csv import read_mil_csv, safe_names, to_feature_bag


def write_musk1_regression(musk1_csv: Path, root: Path, column: int = 0) -> tuple[Path, dict[str, float]]:
    """Write ``root/features/<bag>.h5`` (features without ``column``: (n, 165) float32) and
    ``root/manifest.csv`` (``label`` = the bag's target); returns (manifest, {slide_id: target})."""
    bags = read_mil_csv(musk1_csv)
    names = safe_names(b.bag_id for b in bags)
    rows, targets = [], {}
    for b in bags:
        name = names[b.bag_id]
        targets[name] = float(b.features[:, column].astype(np.float64).mean())
        seen = replace(b, features=np.ascontiguousarray(np.delete(b.features, column, axis=1)))
        write_bag(root / "features" / f"{name}.h5", to_feature_bag(seen, name, 224, str(musk1_csv)))
        rows.append(ManifestRow(slide_id=name, case_id=name, label=repr(targets[name]),
                                features_path=f"features/{name}.h5"))
    write_manifest(root / "manifest.csv", rows)
    return root / "manifest.csv", targets
