"""The overlay TIFF opens in OpenSlide aligned with its slide; a cohort scale fixes colours across slides."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from core.cli import main
from core.cohort.heatmaps_overlay import overlay_raster
from core.demo.tiff_writer import downsample2_rgba
from core.evidence.evidence_file import Evidence, write_evidence
from testkit.heatmaps import P, tissue_coords


def _read(tiff, slide, x0: float, y0: float) -> np.ndarray:
    """RGBA of the overlay TIFF (read with OpenSlide) at the slide's level-0 position (x0, y0)."""
    import openslide

    with openslide.OpenSlide(str(slide)) as s:
        slide_mpp = float(s.properties["openslide.mpp-x"])
    with openslide.OpenSlide(str(tiff)) as o:
        q = float(o.properties["openslide.mpp-x"]) / slide_mpp
        return np.asarray(o.read_region((int(x0 / q), int(y0 / q)), 0, (1, 1)))[0, 0]


@pytest.mark.parametrize("px_per_patch", [1, 2])
def test_overlay_tiff_is_aligned_with_the_slide(demo_cohort, tmp_path, px_per_patch):
    import openslide

    cohort, evidence = demo_cohort
    out = tmp_path / "out"
    assert main(["heatmaps", "--manifest", str(cohort.manifest), "--evidence", str(next(iter(evidence.values())).parent),
                 "--out", str(out), "--maps", "attention", "--width", "200", "--top-k", "0", "--subsets", "none",
                 "--px-per-patch", str(px_per_patch)]) == 0
    sid = cohort.slide_ids[0]
    with openslide.OpenSlide(str(cohort.slide_path(sid))) as s:
        extent_um = np.array(s.dimensions) * float(s.properties["openslide.mpp-x"])
        slide_mpp = float(s.properties["openslide.mpp-x"])
    tiff = out / sid / f"{sid}.attention.overlay.tiff"
    rec = json.loads((out / sid / "heatmaps.json").read_text())
    with openslide.OpenSlide(str(tiff)) as o:
        size = np.array(o.dimensions)
        mpp = (float(o.properties["openslide.mpp-x"]), float(o.properties["openslide.mpp-y"]))
        whole = np.asarray(o.read_region((0, 0), 0, o.dimensions))
    assert mpp[0] == pytest.approx(mpp[1]) and mpp[0] == pytest.approx(slide_mpp * P / px_per_patch, rel=1e-6)
    assert size.tolist() == [8 * px_per_patch, 8 * px_per_patch]
    np.testing.assert_allclose(size * mpp[0], extent_um, rtol=1e-6)  # the slide's extent in µm
    # each patch's colour is at that patch's place; where no patch is, the overlay is transparent
    from core.evidence.evidence_file import read_evidence
    from core.review.normalise import colorize

    ev = read_evidence(evidence[sid])
    scale = rec["maps"]["attention"]
    norm = np.clip((ev.scores["attention"] - scale["vmin"]) / (scale["vmax"] - scale["vmin"]), 0, 1)
    want = colorize(norm, "viridis", opacity=0.6)
    covered = np.zeros(whole.shape[:2], bool)
    for (x, y), c in zip(ev.coords, want):
        r0, c0 = y * px_per_patch // P, x * px_per_patch // P
        block = whole[r0:r0 + px_per_patch, c0:c0 + px_per_patch].reshape(-1, 4)
        assert (np.abs(block.astype(int) - c.astype(int)) <= 1).all()
        covered[r0:r0 + px_per_patch, c0:c0 + px_per_patch] = True
    assert (whole[~covered][:, 3] == 0).all() and (~covered).any()


def test_overlay_extent_on_a_slide_not_a_multiple_of_the_patch(cmu_slide):
    """CMU region 2220 x 2967 px, 256-px patches: the raster is ceil(W/q) x ceil(H/q), over by < 1 px."""
    coords = np.array([[0, 0], [1792, 2560]])
    raster, q = overlay_raster(coords, 256, np.array([[255, 0, 0, 255], [0, 0, 255, 255]], np.uint8), (2220, 2967))
    assert raster.shape[:2] == (12, 9) and q == 256
    assert 0 <= 9 * q - 2220 < q and 0 <= 12 * q - 2967 < q
    assert raster[0, 0].tolist() == [255, 0, 0, 255] and raster[10, 7].tolist() == [0, 0, 255, 255]
    assert raster[..., 3].sum() == 2 * 255


def test_overlapping_patches_the_higher_score_is_on_top():
    coords = np.array([[0, 0], [128, 0], [256, 0]])  # 256-px patches at a 128 stride overlap
    colours = np.array([[1, 0, 0, 255], [2, 0, 0, 255], [3, 0, 0, 255]], np.uint8)
    raster, q = overlay_raster(coords, 256, colours, (512, 256), px_per_patch=2, order=np.array([0.9, 0.1, 0.5]))
    assert q == 128 and raster[0, :, 0].tolist() == [1, 1, 3, 3]


def test_rgba_levels_do_not_darken_at_transparent_edges():
    img = np.zeros((2, 4, 4), np.uint8)
    img[:, :2] = (200, 100, 50, 255)
    img[0, 2] = (200, 100, 50, 255)  # one opaque pixel in a transparent 2 x 2 block
    out = downsample2_rgba(img)
    assert out[0, 0].tolist() == [200, 100, 50, 255]
    assert out[0, 1].tolist() == [200, 100, 50, 64]  # colour kept, alpha averaged (255 / 4 rounded)


def _two_slides(cohort, folder):
    """Two demo slides whose attention differ by a factor 2, each with one patch scored exactly 0.5."""
    truth = json.loads(cohort.truth.read_text())["slides"]
    folder.mkdir()
    for gain, sid in zip((1.0, 2.0), cohort.slide_ids[:2]):
        coords, _ = tissue_coords(truth[sid]["cells"])
        att = gain * np.linspace(0.0, 1.0, len(coords))
        att[0] = 0.5
        write_evidence(folder / f"{sid}.evidence.h5", Evidence(slide_id=sid, coords=coords, scores={"attention": att}))
    return [cohort.slide_ids[0], cohort.slide_ids[1]]


def test_cohort_scale_gives_one_colour_per_value_across_slides_slide_scale_does_not(demo_cohort, tmp_path):
    cohort, _ = demo_cohort
    ids = _two_slides(cohort, tmp_path / "ev")
    colours = {}
    for scale in ("cohort", "slide"):
        out = tmp_path / scale
        assert main(["heatmaps", "--evidence", str(tmp_path / "ev"), "--slides", str(cohort.root / "slides"),
                     "--out", str(out), "--scale", scale, "--width", "200", "--top-k", "0"]) == 0
        got = []
        for sid in ids:
            coords, _ = tissue_coords(json.loads(cohort.truth.read_text())["slides"][sid]["cells"])
            px = _read(out / sid / f"{sid}.attention.overlay.tiff", cohort.slide_path(sid), coords[0, 0], coords[0, 1])
            got.append(px.astype(int))
        colours[scale] = got
    assert np.abs(colours["cohort"][0] - colours["cohort"][1]).max() <= 1
    assert np.abs(colours["slide"][0] - colours["slide"][1]).max() > 20
    doc = json.loads((tmp_path / "cohort" / "heatmap_scale.json").read_text())
    att = doc["maps"]["attention"]
    assert att["text"].startswith("cohort of 2: clipped to cohort percentiles 1–99")
    assert 0.0 <= att["vmin"] < 0.1 and 1.9 < att["vmax"] <= 2.0  # pooled over both slides
    rec = json.loads((tmp_path / "cohort" / ids[0] / "heatmaps.json").read_text())
    assert rec["maps"]["attention"]["colorbar_label"] == "attention: " + att["text"]


def test_survival_evidence_draws_its_risk_maps(demo_cohort, tmp_path):
    from testkit.heatmaps import write_demo_evidence

    cohort, _ = demo_cohort
    paths = write_demo_evidence(cohort.truth, tmp_path / "ev", survival=True)
    out = tmp_path / "out"
    assert main(["heatmaps", "--evidence", str(tmp_path / "ev"), "--slides", str(cohort.root / "slides"),
                 "--out", str(out), "--maps", "ig", "--width", "200", "--top-k", "2"]) == 0
    for k, sid in enumerate(sorted(paths)):
        rec = json.loads((out / sid / "heatmaps.json").read_text())
        assert rec["prediction"] == {"task": "survival", "risk": pytest.approx(0.5 + k)}
        assert (out / sid / f"{sid}.ig.png").is_file() and rec["maps"]["ig"]["cmap"] == "RdBu_r"


def test_heatmap_job_is_picklable_and_runs_through_its_interface(demo_cohort, tmp_path):
    from core.cohort.heatmaps_inputs import inputs_from_manifest
    from core.cohort.heatmaps_job import HeatmapJob

    cohort, evidence = demo_cohort
    inputs = inputs_from_manifest(cohort.manifest, next(iter(evidence.values())).parent)
    job = HeatmapJob(inputs=inputs, maps=("gate",), width_px=200, top_k=0)
    clone = pickle.loads(pickle.dumps(job))
    assert clone == job and clone.name == "heatmaps"
    state = clone.setup()
    sid = cohort.slide_ids[1]
    clone.run(state, sid, tmp_path)
    assert job.is_done(sid, tmp_path) and not job.is_done(cohort.slide_ids[0], tmp_path)
    assert (tmp_path / sid / f"{sid}.gate.overlay.tiff").is_file()
    from core.errors import EvidentError

    with pytest.raises(EvidentError, match="not one of this heatmaps job's slides"):
        clone.run(state, "nope", tmp_path)
