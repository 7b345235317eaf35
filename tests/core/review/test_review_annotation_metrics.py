"""Map-vs-annotation numbers on a hand-made 4 × 4 patch grid."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from core.review.annotation_metrics import format_metrics, map_vs_annotation

PS = 100
COORDS = np.array([(c * PS, r * PS) for r in range(4) for c in range(4)], dtype=np.int64)  # index = 4r + c


def test_hand_computed_values():
    # annotation: the top-left 2 × 2 block (patches 0, 1, 4, 5); a 0.5 % sliver into patch 2 does not count
    geom = box(0, 0, 200.5, 200)
    values = np.zeros(16)
    values[[0, 1, 2, 3]] = [4.0, 3.0, 2.0, 1.0]  # top row scores; everything else 0
    m = map_vs_annotation(values, COORDS, PS, geom, top_fraction=0.25)  # B = top 4 = {0, 1, 2, 3}
    assert m["n_inside"] == 4
    assert m["coverage"] == 2 / 4 and m["coverage_chance"] == 4 / 16
    assert m["precision"] == 2 / 4 and m["precision_chance"] == 4 / 16
    assert m["relevance_mass"] == (4 + 3) / (4 + 3 + 2 + 1) and m["relevance_mass_chance"] == 4 / 16
    assert m["dice"] == 2 * 2 / (4 + 4)


def test_one_percent_overlap_rule_and_nan_scores():
    geom = box(0, 0, 101, 100)  # patch 0 whole, 1 % of patch 1
    values = np.arange(16, dtype=float)[::-1].copy()
    values[5] = np.nan  # unscored patches are left out
    m = map_vs_annotation(values, COORDS, PS, geom, top_fraction=0.1)
    assert m["n_inside"] == 2 and m["n"] == 15
    assert m["coverage"] == 1.0 and m["precision"] == 1.0  # B = top 2 = patches 0 and 1


def test_no_patch_inside_and_text():
    assert map_vs_annotation(np.ones(16), COORDS, PS, box(1000, 1000, 1100, 1100)) is None
    assert "no scored patch" in format_metrics("Tumor", None)
    m = map_vs_annotation(np.arange(16.0), COORDS, PS, box(0, 0, 400, 100))
    line = format_metrics("Tumor", m)
    assert line.startswith("Tumor (4 patches), top 5%") and "chance" in line and "Dice" in line


def test_masks_are_computed_once_per_geometry_and_coords(monkeypatch):
    import core.review.annotation_metrics as am

    calls = []
    real = am.patch_labels
    monkeypatch.setattr(am, "patch_labels", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache = am.AnnotationMasks()
    geom = box(0, 0, 200, 200)
    first = am.map_vs_annotation(np.arange(16.0), COORDS, PS, geom, masks=cache)
    again = am.map_vs_annotation(np.arange(16.0)[::-1].copy(), COORDS, PS, geom, masks=cache)
    assert len(calls) == 1 and first["n_inside"] == again["n_inside"] == 4
    am.map_vs_annotation(np.arange(16.0), COORDS, PS, box(0, 0, 100, 100), masks=cache)  # another annotation
    assert len(calls) == 2
