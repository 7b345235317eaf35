"""Digit bags: real sklearn digits, labels follow the target digit, truth = target instances, writer."""

from __future__ import annotations

import numpy as np

from core.data.bags import read_bag
from core.data.digits import make_digit_bags, read_evidence_truth, write_digit_bags
from core.data.manifest import read_manifest


def test_bags_follow_the_rule():
    bags = make_digit_bags(30, seed=3)
    assert sum(b.label for b in bags) == 15
    for b in bags:
        assert 20 <= b.features.shape[0] <= 200 and b.features.shape[1] == 64
        assert b.features.min() >= 0 and b.features.max() <= 1
        assert b.label == int((b.digits == 9).any())
        assert np.array_equal(b.evidence, np.flatnonzero(b.digits == 9))
        if b.label:
            assert 1 <= b.evidence.size <= np.ceil(0.1 * b.features.shape[0])
    # folds stratified: every fold has both labels
    for f in range(5):
        assert {b.label for b in bags if b.fold == f} == {0, 1}


def test_deterministic_by_seed():
    a, b, c = make_digit_bags(6, seed=1), make_digit_bags(6, seed=1), make_digit_bags(6, seed=2)
    assert all(np.array_equal(x.features, y.features) for x, y in zip(a, b))
    assert not all(x.features.shape == y.features.shape and np.array_equal(x.features, y.features) for x, y in zip(a, c))


def test_writer(tmp_path):
    bags = make_digit_bags(8, seed=0)
    manifest = read_manifest(write_digit_bags(tmp_path, bags))
    assert manifest.task == "classification" and manifest.classes == ("0", "1")
    truth = read_evidence_truth(tmp_path / "evidence_truth.json")
    for row, bag in zip(manifest.rows, bags):
        fb = read_bag(tmp_path / row.features_path)
        np.testing.assert_array_equal(fb.features, bag.features)
        assert row.label == str(bag.label) and row.fold == bag.fold
        np.testing.assert_array_equal(truth[bag.slide_id], bag.evidence)


def test_digit_evidence_is_written_as_geojson_annotations(tmp_path):
    from core.data.annotations import patch_labels, read_geojson
    from core.data.bags import read_bag
    from core.data.digits import PATCH_SIZE, make_digit_bags, read_evidence_truth, write_digit_bags

    bags = make_digit_bags(6, seed=1, min_size=20, max_size=30)
    manifest = write_digit_bags(tmp_path / "d", bags)
    truth = read_evidence_truth(manifest.parent / "evidence_truth.json")
    for b in bags:
        path = manifest.parent / "annotations" / f"{b.slide_id}.geojson"
        assert path.exists() == bool(len(b.evidence))
        if path.exists():
            coords = read_bag(manifest.parent / "features" / f"{b.slide_id}.h5").coords
            mask = patch_labels(coords, PATCH_SIZE, [a.geometry for a in read_geojson(path)])
            assert np.flatnonzero(mask).tolist() == sorted(truth[b.slide_id].tolist())  # exactly the evidence
