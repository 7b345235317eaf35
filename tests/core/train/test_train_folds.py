"""core.train.folds.finished_folds: interrupted folds are skipped, broken records are one clear error."""

from __future__ import annotations

import pytest

from core.errors import EvidentError
from core.train.folds import finished_folds


def test_interrupted_fold_is_skipped_and_broken_record_named(tmp_path):
    (tmp_path / "fold_0_0").mkdir()
    (tmp_path / "fold_0_0" / "model.pt").write_bytes(b"partial")  # no fold.json: interrupted
    assert list(finished_folds(tmp_path)) == []
    bad = tmp_path / "fold_0_1"
    bad.mkdir()
    (bad / "fold.json").write_text("{\"repeat\": 0,", encoding="utf-8")
    with pytest.raises(EvidentError, match="not valid JSON") as err:
        list(finished_folds(tmp_path))
    assert err.value.path == str(bad / "fold.json")
    (bad / "fold.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(EvidentError, match="not a fold record"):
        list(finished_folds(tmp_path))
