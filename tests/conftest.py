"""Shared fixtures: offscreen Qt, real data (fetched once, sha256-checked), small synthetic bags."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# one intra-op thread per process (inherited by the CLI children the tests start): on a loaded 2-core machine
# torch's default (one thread per core) ran some training tests ~100x slower than one thread
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("EVIDENT_DEVICE", "cpu")  # the viewer's predictor: same numbers on every machine (GPU tests ask for cuda)

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def real_data() -> dict[str, Path]:
    """``{"cmu_slide": Path, "ucsb_breast": Path, "musk1": Path}`` from the published wheels."""
    from core.data.realdata import fetch_all

    return fetch_all()


@pytest.fixture(scope="session")
def cmu_slide(real_data) -> Path:
    """The real Aperio CMU-1 region (2220 × 2967 px, 20×, 0.499 µm/px)."""
    return real_data["cmu_slide"]


@pytest.fixture(scope="session")
def ome_pyramid(cmu_slide, tmp_path_factory) -> dict:
    """The real CMU region as a 3-level JPEG 2000 OME-TIFF with SubIFDs (OpenSlide refuses it) and the
    same levels as a deflate pyramid OpenSlide opens: ``{"ome", "plain", "levels", "mpp"}`` (tests/testkit/ome_tiff.py)."""
    from testkit.ome_tiff import cmu_levels, write_ome_pyramid, write_plain_pyramid

    root = tmp_path_factory.mktemp("ome_pyramid")
    levels, mpp = cmu_levels(cmu_slide)
    return {"ome": write_ome_pyramid(root / "cmu.ome.tif", levels, mpp),
            "plain": write_plain_pyramid(root / "cmu_plain.tif", levels, mpp), "levels": levels, "mpp": mpp}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
