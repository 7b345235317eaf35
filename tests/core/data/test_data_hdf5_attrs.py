"""HDF5 attribute values survive a write/read round trip as plain Python values."""

from __future__ import annotations

import json

import h5py
import numpy as np

from core.data.hdf5_attrs import plain_attrs, plain_value, write_attrs


def test_round_trip_of_attribute_kinds(tmp_path):
    attrs = {"i": 3, "f": 0.5, "s": "uni_v1", "flag": True, "none": None, "floats": [1.0, 2.5],
             "names": ["a", "b"], "meta": {"k": 1}, "ragged": [[1], [2, 3]]}
    with h5py.File(tmp_path / "a.h5", "w") as f:
        d = f.create_dataset("x", data=np.zeros(1))
        write_attrs(d, attrs, skip=("i",))
    with h5py.File(tmp_path / "a.h5") as f:
        back = plain_attrs(f["x"].attrs)
    assert "i" not in back and "none" not in back
    assert back["f"] == 0.5 and back["s"] == "uni_v1" and back["flag"] is True
    assert back["floats"] == [1.0, 2.5] and back["names"] == ["a", "b"]
    assert json.loads(back["meta"]) == {"k": 1} and json.loads(back["ragged"]) == [[1], [2, 3]]
    json.dumps(back)  # everything is JSON-serialisable


def test_plain_value_of_trident_spellings():
    assert plain_value("None") is None and plain_value(b"abc") == "abc"
    assert plain_value(np.int64(7)) == 7 and isinstance(plain_value(np.float32(1.5)), float)
    assert plain_value(np.array([b"x", b"y"])) == ["x", "y"] and plain_value(np.array(4)) == 4
