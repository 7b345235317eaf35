"""Evidence HDF5 files: round trip, other-slide detection, adding scores, bad input, atomicity."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import EvidentError
from core.evidence.evidence_file import (
    Evidence,
    Subset,
    add_scores,
    read_evidence,
    write_evidence,
)


def _ev(rng, n=12, m=3):
    return Evidence(
        slide_id="s1", coords=rng.integers(0, 1000, (n, 2)), task="classification", classes=("neg", "pos"),
        predicted_class=1, probs=np.array([0.2, 0.8]), scores={"attention": rng.random(n)},
        gates=rng.random(n), responses=rng.random((n, m)), coverage=rng.random(m), prompts=("a", "b", "c"),
        subsets={"recovered": Subset(np.array([4, 1, 7]), "target_met", rng.random(m), 2)},
        snr={"recovered": {"keep_only_drop": 0.01, "cd_gap": 0.002}}, model="m.pt", anchor_digest="d" * 64,
    )


def test_roundtrip(tmp_path, rng):
    ev = _ev(rng)
    path = tmp_path / "s1.h5"
    write_evidence(path, ev)
    got = read_evidence(path, coords=ev.coords)
    assert got.slide_id == "s1" and got.classes == ("neg", "pos") and got.predicted_class == 1
    assert got.prompts == ("a", "b", "c") and got.model == "m.pt" and got.anchor_digest == ev.anchor_digest
    np.testing.assert_array_equal(got.coords, ev.coords)
    np.testing.assert_allclose(got.probs, ev.probs, rtol=1e-6)
    np.testing.assert_allclose(got.gates, ev.gates, rtol=1e-6)
    np.testing.assert_allclose(got.responses, ev.responses, rtol=1e-6)
    np.testing.assert_allclose(got.scores["attention"], ev.scores["attention"], rtol=1e-6)
    sub = got.subsets["recovered"]
    assert sub.indices.tolist() == [4, 1, 7] and sub.stop_reason == "target_met" and sub.n_threshold == 2
    assert sub.indices.dtype == np.int64
    np.testing.assert_allclose(sub.coverage, ev.subsets["recovered"].coverage)
    assert got.snr == {"recovered": {"keep_only_drop": 0.01, "cd_gap": 0.002}}
    assert got.risk is None


def test_other_slide_is_refused(tmp_path, rng):
    ev = _ev(rng)
    write_evidence(tmp_path / "e.h5", ev)
    with pytest.raises(EvidentError, match="another slide"):
        read_evidence(tmp_path / "e.h5", coords=ev.coords[::-1])


def test_add_scores(tmp_path, rng):
    ev = _ev(rng)
    path = tmp_path / "e.h5"
    write_evidence(path, ev)
    ig = rng.random(12)
    add_scores(path, "ig", ig)
    got = read_evidence(path)
    assert set(got.scores) == {"attention", "ig"}
    np.testing.assert_allclose(got.scores["ig"], ig, rtol=1e-6)
    before = path.read_bytes()
    with pytest.raises(EvidentError, match="13 values"):
        add_scores(path, "bad", rng.random(13))
    assert path.read_bytes() == before


def test_bad_input_writes_nothing(tmp_path, rng):
    from dataclasses import replace

    ev = _ev(rng)
    for bad in (replace(ev, gates=rng.random(5)), replace(ev, subsets={"x": Subset(np.array([99]))}),
                replace(ev, scores={"a": rng.random((12, 2))})):
        with pytest.raises(EvidentError):
            write_evidence(tmp_path / "bad.h5", bad)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_files(tmp_path):
    with pytest.raises(EvidentError, match="not found"):
        read_evidence(tmp_path / "none.h5")
    (tmp_path / "t.h5").write_text("hello")
    with pytest.raises(EvidentError, match="not an HDF5"):
        read_evidence(tmp_path / "t.h5")
    import h5py

    with h5py.File(tmp_path / "o.h5", "w") as f:
        f["features"] = np.zeros((2, 2))
    with pytest.raises(EvidentError, match="not an Evident evidence file"):
        read_evidence(tmp_path / "o.h5")
