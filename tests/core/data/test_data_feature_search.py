"""find_feature_file over the folder layouts CLAM and TRIDENT write."""

from __future__ import annotations

import pytest

from core.data.bags import find_feature_file
from core.errors import EvidentError


def _touch(root, rel):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


@pytest.mark.parametrize("rel", [
    "s1.h5",
    "h5_files/s1.h5",
    "features_uni_v1/s1.h5",
    "RESULTS/h5_files/s1.h5",
    "20x_256px_0px_overlap/features_conch_v15/s1.h5",
    "s1.hdf5",
    "s1.pt",
    "pt_files/s1.pt",
    "RESULTS/pt_files/s1.pt",
])
def test_each_usual_layout_is_found(tmp_path, rel):
    want = _touch(tmp_path, rel)
    _touch(tmp_path, rel.replace("s1", "s10"))  # a longer id must not match
    assert find_feature_file("s1", tmp_path) == want


def test_missing_slide_gives_none_and_h5_beats_pt(tmp_path):
    assert find_feature_file("s1", tmp_path) is None
    _touch(tmp_path, "pt_files/s1.pt")
    h5 = _touch(tmp_path, "h5_files/s1.h5")
    assert find_feature_file("s1", tmp_path) == h5
    assert find_feature_file("s2", tmp_path) is None


def test_nearest_pattern_wins_and_ids_with_glob_characters(tmp_path):
    top = _touch(tmp_path, "a[1].h5")
    _touch(tmp_path, "h5_files/a[1].h5")
    _touch(tmp_path, "h5_files/a1.h5")
    assert find_feature_file("a[1]", tmp_path) == top


def test_two_encoders_are_ambiguous(tmp_path):
    _touch(tmp_path, "features_uni_v1/s1.h5")
    _touch(tmp_path, "features_conch_v15/s1.h5")
    with pytest.raises(EvidentError, match=r"several feature files for slide 's1'"):
        find_feature_file("s1", tmp_path)
    assert find_feature_file("s1", tmp_path / "features_uni_v1") == tmp_path / "features_uni_v1" / "s1.h5"


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(EvidentError, match="feature folder not found"):
        find_feature_file("s1", tmp_path / "nope")
