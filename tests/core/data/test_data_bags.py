"""Feature bags: CLAM / TRIDENT / .pt reading, validation errors, atomic writing."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import torch

from core.data.bag import FeatureBag
from core.data.bags import read_bag, write_bag
from core.errors import EvidentError


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bag(rng, n=12, d=5, size=256):
    coords = np.stack([np.arange(n) % 4 * size, np.arange(n) // 4 * size], axis=1).astype(np.int64)
    return FeatureBag(features=rng.normal(size=(n, d)).astype(np.float32), coords=coords,
                      patch_size_level0=size, slide_id="s1")


def _h5(path, features, coords, coords_attrs=None, root_attrs=None):
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=features)
        if coords is not None:
            d = f.create_dataset("coords", data=coords)
            for k, v in (coords_attrs or {}).items():
                d.attrs[k] = v
        for k, v in (root_attrs or {}).items():
            f.attrs[k] = v
    return path


def test_trident_round_trip_keeps_values_attrs_and_dtypes(tmp_path, rng):
    bag = _bag(rng)
    bag.attrs.update(level0_magnification=40, target_magnification=20, encoder="uni_v1")
    out = tmp_path / "s1.h5"
    write_bag(out, bag)
    with h5py.File(out) as f:
        assert f["coords"].dtype == np.int64 and f["features"].dtype == np.float32
        assert f["coords"].attrs["patch_size_level0"] == 256
    back = read_bag(out)
    np.testing.assert_array_equal(back.features, bag.features)
    np.testing.assert_array_equal(back.coords, bag.coords)
    assert back.coords.dtype == np.int64 and back.features.dtype == np.float32
    assert back.patch_size_level0 == 256 and back.slide_id == "s1" and back.source == str(out)
    assert back.attrs["layout"] == "trident" and back.attrs["encoder"] == "uni_v1"
    assert back.attrs["level0_magnification"] == 40


def test_clam_round_trip_writes_int32_coords_with_patch_attrs(tmp_path, rng):
    bag = _bag(rng, size=512)
    out = tmp_path / "s1.h5"
    write_bag(out, bag, layout="clam")
    with h5py.File(out) as f:
        assert f["coords"].dtype == np.int32
        assert f["coords"].attrs["patch_size"] == 512 and f["coords"].attrs["patch_level"] == 0
    back = read_bag(out)
    np.testing.assert_array_equal(back.features, bag.features)
    np.testing.assert_array_equal(back.coords, bag.coords)
    assert back.patch_size_level0 == 512 and back.attrs["layout"] == "clam"


def test_plain_clam_file_without_attrs_and_3d_features(tmp_path, rng):
    f = rng.normal(size=(1, 7, 3)).astype(np.float32)
    coords = (np.arange(14).reshape(7, 2) * 100).astype(np.int32)
    p = _h5(tmp_path / "a.h5", f, coords)
    bag = read_bag(p)
    assert bag.features.shape == (7, 3) and bag.patch_size_level0 is None and bag.attrs["layout"] == "clam"
    np.testing.assert_array_equal(bag.features, f[0])
    assert read_bag(p, patch_size_level0=224).patch_size_level0 == 224


def test_clam_patch_level_and_downsample_give_level0_size(tmp_path, rng):
    p = _h5(tmp_path / "a.h5", rng.normal(size=(3, 4)).astype(np.float32), np.zeros((3, 2), np.int32),
            {"patch_size": 256, "patch_level": 1, "downsample": np.array([4.0, 4.0])})
    assert read_bag(p).patch_size_level0 == 1024


def test_trident_attrs_on_coords_bound_the_coords(tmp_path, rng):
    attrs = {"patch_size": 256, "patch_size_level0": 512, "level0_magnification": 40, "target_magnification": 20,
             "overlap": 0, "level0_width": 1000, "level0_height": 800, "name": "s", "savetodir": "None"}
    coords = np.array([[0, 0], [512, 0], [0, 512]], np.int64)
    p = _h5(tmp_path / "t.h5", rng.normal(size=(3, 4)).astype(np.float32), coords, attrs)
    bag = read_bag(p)
    assert bag.patch_size_level0 == 512 and bag.attrs["savetodir"] is None and bag.attrs["name"] == "s"
    bad = _h5(tmp_path / "t2.h5", rng.normal(size=(3, 4)).astype(np.float32), coords + [600, 0], attrs)
    with pytest.raises(EvidentError, match=r"t2\.h5: 1 patch\(es\) lie outside the 1000 x 800 slide"):
        read_bag(bad)


def test_root_attrs_are_read_too(tmp_path, rng):
    p = _h5(tmp_path / "r.h5", rng.normal(size=(2, 4)).astype(np.float32), np.zeros((2, 2), np.int64),
            root_attrs={"patch_size_level0": 448})
    assert read_bag(p).patch_size_level0 == 448


def test_pt_with_npy_h5_and_discovered_coords(tmp_path, rng):
    feats = rng.normal(size=(6, 3)).astype(np.float32)
    coords = np.arange(12).reshape(6, 2) * 10
    (tmp_path / "pt_files").mkdir()
    (tmp_path / "h5_files").mkdir()
    pt = tmp_path / "pt_files" / "s.pt"
    torch.save(torch.from_numpy(feats), pt)
    npy = tmp_path / "c.npy"
    np.save(npy, coords)
    bag = read_bag(pt, coords_path=npy)
    np.testing.assert_array_equal(bag.features, feats)
    np.testing.assert_array_equal(bag.coords, coords)
    assert bag.attrs["layout"] == "pt" and bag.slide_id == "s"
    _h5(tmp_path / "h5_files" / "s.h5", feats, coords.astype(np.int32), {"patch_size": 256, "patch_level": 0})
    found = read_bag(pt)  # CLAM layout: ../h5_files/<id>.h5 holds the coordinates
    np.testing.assert_array_equal(found.coords, coords)
    assert found.patch_size_level0 == 256


def test_explicit_coords_file_replaces_the_h5_coords(tmp_path, rng):
    p = _h5(tmp_path / "a.h5", rng.normal(size=(3, 2)).astype(np.float32), np.zeros((3, 2), np.int64))
    npy = tmp_path / "c.npy"
    np.save(npy, np.array([[0, 0], [10, 0], [20, 0]]))
    assert read_bag(p, coords_path=npy).coords[:, 0].tolist() == [0, 10, 20]
    with pytest.raises(EvidentError, match=r"c\.npy: coordinates file not found"):
        read_bag(p, coords_path=tmp_path / "nope" / "c.npy")


def test_pt_dict_with_features_and_coords(tmp_path, rng):
    pt = tmp_path / "d.pt"
    torch.save({"features": torch.ones(4, 2, dtype=torch.bfloat16), "coords": torch.zeros(4, 2, dtype=torch.long)}, pt)
    bag = read_bag(pt)
    assert bag.features.dtype == np.float32 and bag.features.shape == (4, 2) and bag.coords.shape == (4, 2)


def test_pt_without_coords_is_an_error(tmp_path):
    pt = tmp_path / "x.pt"
    torch.save(torch.ones(3, 2), pt)
    with pytest.raises(EvidentError, match=r"x\.pt: no coordinates"):
        read_bag(pt)


def test_pt_that_is_not_a_tensor_file(tmp_path):
    pt = tmp_path / "junk.pt"
    pt.write_bytes(b"definitely not a zip or pickle")
    with pytest.raises(EvidentError, match=r"junk\.pt: not a readable PyTorch tensor file"):
        read_bag(pt)


def _bad_files(tmp_path, rng):
    f = rng.normal(size=(4, 3)).astype(np.float32)
    c = np.zeros((4, 2), np.int64)
    nan = f.copy()
    nan[2, 1] = np.nan
    inf = f.copy()
    inf[0, 0] = np.inf
    text = tmp_path / "text.h5"
    text.write_text("features,coords\n1,2\n")
    coords_only = tmp_path / "coords_only.h5"
    with h5py.File(coords_only, "w") as h:
        h.create_dataset("coords", data=c)
    with h5py.File(tmp_path / "strings.h5", "w") as h:
        h.create_dataset("features", data=np.array([b"a", b"b"]))
        h.create_dataset("coords", data=np.zeros((2, 2), np.int64))
    truncated = tmp_path / "truncated.h5"
    write_bag(truncated, FeatureBag(features=np.ones((500, 8), np.float32), coords=np.zeros((500, 2), np.int64)))
    truncated.write_bytes(truncated.read_bytes()[:3000])
    return {
        "cannot read the HDF5 file": truncated,
        "not an HDF5 file": text,
        "missing dataset 'features'": coords_only,
        "missing dataset 'coords'": _h5(tmp_path / "nocoords.h5", f, None),
        "features have 4 rows but coords have 3": _h5(tmp_path / "len.h5", f, c[:3]),
        r"NaN or Inf in 1 patch\(es\), first at row 2": _h5(tmp_path / "nan.h5", nan, c),
        r"NaN or Inf in 1 patch\(es\), first at row 0": _h5(tmp_path / "inf.h5", inf, c),
        r"empty bag \(no patches\)": _h5(tmp_path / "empty.h5", f[:0], c[:0]),
        "negative coords at row 0": _h5(tmp_path / "neg.h5", f, c - 1),
        r"coords must be \(N, 2\)": _h5(tmp_path / "c3.h5", f, np.zeros((4, 3), np.int64)),
        "coords are not whole pixel numbers": _h5(tmp_path / "frac.h5", f, c + 0.5),
        "features are not numeric": tmp_path / "strings.h5",
        r"features must be \(N, D\)": _h5(tmp_path / "f1d.h5", f[:, 0], c),
    }


def test_each_bad_file_gives_one_error_naming_it_and_is_not_modified(tmp_path, rng):
    for message, path in _bad_files(tmp_path, rng).items():
        before = _digest(path)
        with pytest.raises(EvidentError, match=message) as err:
            read_bag(path)
        assert err.value.path == str(path), message
        assert _digest(path) == before


def test_wrong_feature_width_and_outside_given_slide(tmp_path, rng):
    p = tmp_path / "s.h5"
    write_bag(p, _bag(rng, d=5))
    with pytest.raises(EvidentError, match="features have width 5 but the model expects 1024"):
        read_bag(p, feature_dim=1024)
    assert read_bag(p, feature_dim=5).feature_dim == 5
    with pytest.raises(EvidentError, match=r"outside the 500 x 10000 slide, first at row 2: \(512, 0\)"):
        read_bag(p, slide_dimensions=(500, 10000))


def test_missing_file(tmp_path):
    with pytest.raises(EvidentError, match="feature file not found"):
        read_bag(tmp_path / "nope.h5")


def test_write_invalid_bag_leaves_existing_file_untouched(tmp_path, rng):
    p = tmp_path / "s.h5"
    write_bag(p, _bag(rng))
    before = _digest(p)
    good = _bag(rng)
    broken = FeatureBag(features=good.features[:5], coords=good.coords, patch_size_level0=256)
    with pytest.raises(EvidentError, match="features have 5 rows but coords have 12"):
        write_bag(p, broken)
    with pytest.raises(EvidentError, match="unknown bag layout 'zarr'"):
        write_bag(p, good, layout="zarr")
    assert _digest(p) == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.h5"]


def test_clam_layout_refuses_coords_beyond_int32(tmp_path, rng):
    bag = _bag(rng)
    big = FeatureBag(features=bag.features, coords=bag.coords + 2**31, patch_size_level0=256)
    with pytest.raises(EvidentError, match="int32"):
        write_bag(tmp_path / "big.h5", big, layout="clam")
    assert not (tmp_path / "big.h5").exists()
    write_bag(tmp_path / "big.h5", big)
    np.testing.assert_array_equal(read_bag(tmp_path / "big.h5").coords, big.coords)


def test_coords_checked_against_the_real_cmu_slide(cmu_slide, tmp_path, rng):
    import openslide

    with openslide.OpenSlide(str(cmu_slide)) as s:
        width, height = s.dimensions
    xs, ys = np.meshgrid(np.arange(0, width, 256), np.arange(0, height, 256))
    coords = np.stack([xs.ravel(), ys.ravel()], 1)
    p = tmp_path / "cmu.h5"
    write_bag(p, FeatureBag(rng.normal(size=(len(coords), 4)).astype(np.float32), coords, 256))
    assert read_bag(p, slide_dimensions=(width, height)).n_patches == len(coords) == 9 * 12
    shifted = tmp_path / "shifted.h5"
    write_bag(shifted, FeatureBag(rng.normal(size=(len(coords), 4)).astype(np.float32), coords + [256, 0], 256))
    with pytest.raises(EvidentError, match=f"12 patch\\(es\\) lie outside the {width} x {height} slide"):
        read_bag(shifted, slide_dimensions=(width, height))
