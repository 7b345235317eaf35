"""Anchor banks: HDF5 / NPZ round trip, stable digest, validation, add()."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from core.data.anchors import AnchorBank, read_anchor_bank, write_anchor_bank
from core.errors import EvidentError


@pytest.fixture
def bank(rng):
    return AnchorBank(("tumour cells", "stroma", "lymphocytes ü"), rng.normal(size=(3, 8)), "conch_v1")


@pytest.mark.parametrize("suffix", [".h5", ".npz", ".hdf5"])
def test_round_trip_keeps_everything_and_the_digest(tmp_path, bank, suffix):
    out = tmp_path / f"bank{suffix}"
    write_anchor_bank(out, bank)
    back = read_anchor_bank(out)
    assert back.prompts == bank.prompts and back.encoder == "conch_v1"
    assert back.embeddings.dtype == np.float32 and back.embeddings.shape == (3, 8)
    np.testing.assert_array_equal(back.embeddings, bank.embeddings)
    assert back.digest() == bank.digest()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_digest_changes_with_prompts_and_values_not_encoder(bank):
    d = bank.digest()
    assert len(d) == 64 and d == AnchorBank(bank.prompts, bank.embeddings.copy(), "other").digest()
    e = bank.embeddings.copy()
    e[0, 0] = np.nextafter(e[0, 0], np.float32(np.inf))
    assert AnchorBank(bank.prompts, e, "conch_v1").digest() != d
    assert AnchorBank(("a", "b", "c"), bank.embeddings, "conch_v1").digest() != d
    # prompt boundaries are part of the digest: ("ab", "c") differs from ("a", "bc")
    two = np.ones((2, 2), np.float32)
    assert AnchorBank(("ab", "c"), two, "").digest() != AnchorBank(("a", "bc"), two, "").digest()


def test_bank_is_immutable_and_add_returns_a_new_bank(bank):
    with pytest.raises(ValueError):
        bank.embeddings[0, 0] = 1.0
    bigger = bank.add("necrosis", np.arange(8))
    assert bank.size == 3 and bigger.size == 4 and bigger.prompts[-1] == "necrosis" and bigger.dim == 8
    np.testing.assert_array_equal(bigger.embeddings[-1], np.arange(8, dtype=np.float32))
    assert bigger.digest() != bank.digest()
    with pytest.raises(EvidentError, match="has width 3, the bank's anchors have 8"):
        bank.add("x", np.ones(3))
    with pytest.raises(EvidentError, match="duplicate prompt 'stroma'"):
        bank.add("stroma", np.ones(8))
    with pytest.raises(EvidentError, match="NaN or Inf"):
        bank.add("bad", np.full(8, np.nan))


def _h5(path, prompts, emb, encoder="enc"):
    with h5py.File(path, "w") as f:
        if prompts is not None:
            f.create_dataset("prompts", data=np.array(prompts, dtype=object), dtype=h5py.string_dtype())
        if emb is not None:
            f.create_dataset("embeddings", data=emb)
        if encoder is not None:
            f.attrs["encoder"] = encoder
    return path


def test_encoder_as_dataset_or_missing(tmp_path):
    p = _h5(tmp_path / "a.h5", ["a"], np.ones((1, 2)), encoder=None)
    assert read_anchor_bank(p).encoder == "unknown"
    with h5py.File(p, "a") as f:
        f.create_dataset("encoder", data="titan")
    assert read_anchor_bank(p).encoder == "titan"


def test_invalid_banks_name_the_file(tmp_path):
    nan = np.ones((2, 3))
    nan[1, 2] = np.nan
    cases = {
        "missing dataset\\(s\\) 'prompts'": _h5(tmp_path / "np.h5", None, np.ones((1, 2))),
        "missing dataset\\(s\\) 'embeddings'": _h5(tmp_path / "ne.h5", ["a"], None),
        "empty anchor bank": _h5(tmp_path / "m0.h5", [], np.ones((0, 4))),
        "3 prompts but 2 embeddings": _h5(tmp_path / "len.h5", ["a", "b", "c"], np.ones((2, 4))),
        "embedding of prompt 'b' has NaN or Inf": _h5(tmp_path / "nan.h5", ["a", "b"], nan),
        "embeddings must be \\(M, d_a\\)": _h5(tmp_path / "1d.h5", ["a"], np.ones(4)),
        "duplicate prompt 'a'": _h5(tmp_path / "dup.h5", ["a", "a"], np.ones((2, 4))),
        "prompt 1 is empty": _h5(tmp_path / "blank.h5", ["a", " "], np.ones((2, 4))),
    }
    txt = tmp_path / "t.h5"
    txt.write_text("hello")
    cases["not an HDF5 file"] = txt
    np.savez(tmp_path / "x.npz", embeddings=np.ones((1, 2)))
    cases["missing array\\(s\\) 'prompts'"] = tmp_path / "x.npz"
    (tmp_path / "z.npz").write_bytes(b"not a zip")
    cases["not a readable .npz file"] = tmp_path / "z.npz"
    (tmp_path / "b.json").write_text("{}")
    cases["must be .h5, .hdf5 or .npz"] = tmp_path / "b.json"
    cases["anchor bank not found"] = tmp_path / "missing.h5"
    for message, path in cases.items():
        with pytest.raises(EvidentError, match=message) as err:
            read_anchor_bank(path)
        assert err.value.path == str(path), message
