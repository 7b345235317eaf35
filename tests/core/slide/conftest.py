"""Fixtures for slide tests: a small real-tissue pyramid and TIFFs with corrupt tiles."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def small_pyramid(cmu_slide, tmp_path_factory) -> Path:
    """An 8192 x 8192 pyramidal JPEG TIFF built from the real CMU tissue (same code as the 51200² one)."""
    from core.slide.pyramid import build_pyramid_tiff

    return build_pyramid_tiff(cmu_slide, tmp_path_factory.mktemp("pyr") / "cmu_8192.tiff", size=(8192, 8192))


@pytest.fixture
def make_corrupt_tiff(tmp_path) -> Callable[..., Path]:
    """``make(name, bad_tiles)``: a valid 1024 x 1024 tiled JPEG TIFF (256 px tiles) of real-looking
    noise, then the bytes of tiles ``bad_tiles`` (indices in row-major order) overwritten with garbage.
    """
    import tifffile

    def make(name: str = "corrupt.tif", bad_tiles: Sequence[int] = (5,)) -> Path:
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
        path = tmp_path / name
        tifffile.imwrite(path, img, tile=(256, 256), compression="jpeg", photometric="rgb")
        with tifffile.TiffFile(path) as tf:
            offsets, counts = tf.pages[0].dataoffsets, tf.pages[0].databytecounts
        with open(path, "r+b") as f:
            for i in bad_tiles:
                f.seek(offsets[i])
                f.write(bytes(rng.integers(0, 256, counts[i], dtype=np.uint8)))
        return path

    return make


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def file_digest() -> Callable[[Path], str]:
    """sha256 of a file, to check that inputs are never modified."""
    return sha256
