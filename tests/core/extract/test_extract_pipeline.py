"""extract_slide on the real CMU region and on pyramids built from it: TRIDENT file, determinism,
tissue selection, atomic output on failure."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from core.data.bags import find_feature_file, read_bag
from core.errors import EvidentError
from core.extract.encoders.base import PatchEncoder
from core.extract.encoders.builtin import FEATURES, StainTextureEncoder
from core.extract.grid import build_grid
from core.extract.pipeline import extract_slide, feature_path
from core.slide.reader import open_slide

TISSUE = [(1024, 1024), (1024, 2048), (1280, 2560)]  # epidermis, epidermis, dermis (by eye)
GLASS = [(0, 0), (0, 2560), (1792, 256), (256, 512)]


@pytest.fixture(scope="module")
def cmu_rgb(cmu_slide) -> np.ndarray:
    with open_slide(cmu_slide) as reader:
        return reader.read_region((0, 0), 0, reader.dimensions)[..., :3].copy()  # (2967, 2220, 3)


@pytest.fixture(scope="module")
def extracted(cmu_slide, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("extract")
    return extract_slide(cmu_slide, out, encoder=StainTextureEncoder(), progress=False)


def _pyramid(path: Path, rgb: np.ndarray, mpp: float = 0.5) -> Path:
    """A JPEG-tiled 2-level TIFF pyramid (downsample 4) that OpenSlide reads as generic TIFF."""
    h, w = rgb.shape[:2]
    small = np.asarray(Image.fromarray(rgb).resize((w // 4, h // 4), Image.Resampling.BOX))
    res = (1e4 / mpp, 1e4 / mpp)
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb, tile=(256, 256), compression="jpeg", photometric="rgb", resolution=res,
                 resolutionunit="CENTIMETER")
        tw.write(small, tile=(256, 256), compression="jpeg", photometric="rgb", subfiletype=1)
    return path


def test_trident_file(extracted, cmu_slide):
    assert extracted == feature_path(extracted.parents[2], cmu_slide, "stain_texture_v1", 20.0, 256)
    assert extracted.parent.name == "features_stain_texture_v1" and extracted.name == "cmu_small_region.h5"
    assert extracted.parents[1].name == "20x_256px_0px_overlap"  # TRIDENT's folder for 20x, 256 px
    with h5py.File(extracted, "r") as f:
        feats, coords = f["features"][()], f["coords"][()]
        attrs = dict(f["coords"].attrs)
    assert feats.dtype == np.float32 and coords.dtype == np.int64
    assert feats.shape == (len(coords), len(FEATURES)) and np.isfinite(feats).all()
    assert attrs["patch_size"] == 256 and attrs["patch_size_level0"] == 256 and attrs["overlap"] == 0
    assert attrs["level0_magnification"] == 20.0 and attrs["target_magnification"] == 20.0
    assert (attrs["level0_width"], attrs["level0_height"]) == (2220, 2967)
    assert attrs["encoder"] == "stain_texture_v1"
    assert (coords >= 0).all() and (coords + 256 <= [2220, 2967]).all() and (coords % 256 == 0).all()
    # 88 grid positions; the skin strip covers about a third of the region
    assert 20 <= len(coords) <= 50
    rows = {tuple(c) for c in coords}
    assert all(t in rows for t in TISSUE) and not any(g in rows for g in GLASS)
    bag = read_bag(extracted, slide_dimensions=(2220, 2967), feature_dim=len(FEATURES))
    assert bag.patch_size_level0 == 256 and bag.n_patches == len(coords)
    assert find_feature_file("cmu_small_region", extracted.parents[1]) == extracted


def test_deterministic_across_batching_and_threads(extracted, cmu_slide, tmp_path):
    again = extract_slide(cmu_slide, tmp_path, encoder=StainTextureEncoder(), batch_size=5, workers=1,
                          progress=False)
    with h5py.File(extracted, "r") as a, h5py.File(again, "r") as b:
        np.testing.assert_array_equal(a["coords"][()], b["coords"][()])
        np.testing.assert_array_equal(a["features"][()], b["features"][()])


def test_features_are_the_encoder_on_those_patches_and_differ_from_glass(extracted, cmu_rgb):
    bag = read_bag(extracted)
    enc = StainTextureEncoder()
    idx = [0, len(bag.coords) // 2, len(bag.coords) - 1]
    patches = np.stack([cmu_rgb[y:y + 256, x:x + 256] for x, y in bag.coords[idx]])
    np.testing.assert_allclose(bag.features[idx], enc.encode(patches), rtol=1e-5, atol=1e-6)
    glass = enc.encode(np.stack([cmu_rgb[y:y + 256, x:x + 256] for x, y in GLASS]))
    bg = FEATURES.index("background_fraction")
    assert bag.features[:, bg].max() < glass[:, bg].min()
    # every glass patch is nearer (z-scored) to another glass patch than to any tissue patch
    allf = np.concatenate([bag.features, glass]).astype(np.float64)
    z = (allf - allf.mean(0)) / (allf.std(0) + 1e-9)
    zt, zg = z[: len(bag.features)], z[len(bag.features):]
    for i in range(len(zg)):
        to_glass = min(np.linalg.norm(zg[i] - zg[j]) for j in range(len(zg)) if j != i)
        assert to_glass < np.linalg.norm(zt - zg[i], axis=1).min()


def test_tissue_threshold_is_monotone(cmu_slide, tmp_path, extracted):
    n = len(read_bag(extracted).coords)
    loose = read_bag(extract_slide(cmu_slide, tmp_path / "a", encoder=StainTextureEncoder(),
                                   tissue_threshold=0.1, progress=False))
    strict = read_bag(extract_slide(cmu_slide, tmp_path / "b", encoder=StainTextureEncoder(),
                                    tissue_threshold=0.95, progress=False))
    assert len(strict.coords) < n < len(loose.coords) <= 88


def test_pyramid_reads_the_right_level(cmu_rgb, tmp_path):
    tif = _pyramid(tmp_path / "pyr.tiff", cmu_rgb)
    with open_slide(tif) as reader:
        assert reader.level_count == 2 and reader.objective_power == 20.0
        grid = build_grid(reader, None, target_mag=5.0)
        assert (grid.read_level, grid.read_size) == (1, 256)  # downsample 4: no resize needed
        assert (build_grid(reader, None, target_mag=10.0).read_level, grid.read_size) == (0, 256)
    out = extract_slide(tif, tmp_path / "o", encoder=StainTextureEncoder(), target_mag=5.0,
                        tissue_threshold=0.2, progress=False)
    bag = read_bag(out)
    assert bag.patch_size_level0 == 1024 and bag.attrs["patch_size"] == 256
    assert bag.attrs["target_magnification"] == 5.0 and (bag.coords % 1024 == 0).all()
    assert 1 <= len(bag.coords) <= 4  # 2 x 2 grid positions of 1024 px


class FailingEncoder(PatchEncoder):
    name = "failing"
    dim = 4

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, patches: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise EvidentError("encoder", "failed on purpose")
        return np.zeros((len(patches), 4), np.float32)


def test_failure_midway_leaves_no_file(cmu_slide, tmp_path):
    with pytest.raises(EvidentError, match="on purpose"):
        extract_slide(cmu_slide, tmp_path, encoder=FailingEncoder(), batch_size=4, progress=False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_corrupt_tiles_midway_leave_no_file(cmu_rgb, tmp_path):
    """Level 0 tiles garbled, the coarse level intact: tissue detection works, patch reading fails."""
    tif = _pyramid(tmp_path / "broken.tiff", cmu_rgb)
    data = bytearray(tif.read_bytes())
    with tifffile.TiffFile(tif) as t:
        offsets, counts = t.pages[0].dataoffsets, t.pages[0].databytecounts
    for o, c in zip(offsets, counts, strict=True):
        data[o:o + min(4, c)] = b"\x00" * min(4, c)  # no JPEG start marker: every level-0 tile fails
    tif.write_bytes(bytes(data))
    before = tif.read_bytes()
    with pytest.raises(EvidentError, match="cannot decode") as err:
        extract_slide(tif, tmp_path / "out", encoder=StainTextureEncoder(), progress=False)
    assert err.value.path == str(tif)
    assert not (tmp_path / "out").exists() or [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []
    assert tif.read_bytes() == before


def test_plain_image_needs_a_magnification(cmu_rgb, tmp_path):
    png = tmp_path / "crop.png"
    Image.fromarray(cmu_rgb[1792:2560, 768:1536]).save(png)
    with pytest.raises(EvidentError, match="level0-magnification"):
        extract_slide(png, tmp_path, encoder=StainTextureEncoder(), progress=False)
    bag = read_bag(extract_slide(png, tmp_path, encoder=StainTextureEncoder(), level0_mag=20.0, progress=False))
    assert bag.n_patches == 9 and bag.attrs["level0_magnification"] == 20.0  # 768 px: 3 x 3, all tissue


def test_blank_slide_has_no_tissue_patches(tmp_path):
    png = tmp_path / "blank.png"
    Image.fromarray(np.full((600, 600, 3), 243, np.uint8)).save(png)
    with pytest.raises(EvidentError, match="no tissue patches") as err:
        extract_slide(png, tmp_path, encoder=StainTextureEncoder(), level0_mag=20.0, progress=False)
    assert err.value.path == str(png)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((100, 100, 3), 128, np.uint8)).save(tiny)
    with pytest.raises(EvidentError, match="smaller than one patch"):
        extract_slide(tiny, tmp_path, encoder=StainTextureEncoder(), level0_mag=20.0, progress=False)
    assert not list(tmp_path.rglob("*.h5"))
