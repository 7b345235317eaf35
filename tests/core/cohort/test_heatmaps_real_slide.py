"""``evident heatmaps`` on the real CMU slide: features from ``evident extract``, evidence from ``evident explain``."""

from __future__ import annotations

import json

import numpy as np
import openslide
import pytest
from PIL import Image

from core.cli import main


@pytest.fixture(scope="module")
def explained(cmu_slide, tmp_path_factory):
    """``{"slides", "features", "evidence"}`` folders: the CMU slide, its extracted bag, its explained evidence."""
    from core.models.checkpoint import save_checkpoint
    from testkit.explain import abmil, gce

    root = tmp_path_factory.mktemp("real_heatmaps")
    (root / "slides").mkdir()
    (root / "slides" / cmu_slide.name).symlink_to(cmu_slide)
    assert main(["extract", str(cmu_slide), "--out", str(root / "feat"), "--no-progress"]) == 0
    features = next((root / "feat").rglob("*.h5"))
    model = gce(abmil(d=89, c=2))
    ckpt = root / "m.pt"
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": ["benign", "tumour"]})
    assert main(["explain", "--model", str(ckpt), "--features", str(features), "--methods", "attention,ig,gate",
                 "--out", str(root / "evidence"), "--device", "cpu"]) == 0
    return {"slides": root / "slides", "features": features.parent, "evidence": root / "evidence", "root": root}


def test_real_slide_heatmaps(explained, cmu_slide, tmp_path):
    from core.evidence.evidence_file import read_evidence

    out = tmp_path / "out"
    assert main(["heatmaps", "--evidence", str(explained["evidence"]), "--slides", str(explained["slides"]),
                 "--features", str(explained["features"]), "--out", str(out), "--width", "800", "--top-k", "9"]) == 0
    sid = cmu_slide.stem
    rec = json.loads((out / sid / "heatmaps.json").read_text())
    ev = read_evidence(explained["evidence"] / f"{sid}.evidence.h5")
    assert set(rec["maps"]) == {*ev.scores}  # every map of the file (explain's gate is a score)
    assert rec["patch_size_level0"] == 256 and rec["n_patches"] == ev.n_patches
    assert rec["prediction"]["class"] in ("benign", "tumour")
    for name in rec["maps"]:
        with Image.open(out / sid / f"{sid}.{name}.png") as im:
            w, h = im.size
        assert w == 800 and h == round((800 - 160) * 2967 / 2220)
        with openslide.OpenSlide(str(out / sid / f"{sid}.{name}.overlay.tiff")) as o, openslide.OpenSlide(str(cmu_slide)) as s:
            over = np.array(o.dimensions) * float(o.properties["openslide.mpp-x"])
            extent = np.array(s.dimensions) * float(s.properties["openslide.mpp-x"])
            q = float(o.properties["openslide.mpp-x"]) / float(s.properties["openslide.mpp-x"])
            assert q == pytest.approx(256)
            # 2220 x 2967 px is not a multiple of 256: over by less than one overlay pixel (docs/heatmaps.md)
            assert ((over >= extent - 1e-6) & (over < extent + q * float(s.properties["openslide.mpp-x"]))).all()
            whole = np.asarray(o.read_region((0, 0), 0, o.dimensions))
        painted = {(int(y // 256), int(x // 256)) for x, y in ev.coords}
        alpha = whole[..., 3] > 0
        assert {tuple(p) for p in np.argwhere(alpha)} == painted  # exactly the patches, where they are
    with Image.open(out / sid / f"{sid}.attention.top9.png") as sheet:
        assert sheet.size == (3 * 164 + 4, 16 + 4 + 3 * (160 + 16 + 4) + 4)
        assert np.asarray(sheet.convert("L")).std() > 20  # tissue, not a blank sheet
