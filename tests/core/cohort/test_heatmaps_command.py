"""``evident heatmaps`` on the demo cohort: outputs, colour bar, GeoJSON, resume, a damaged file, --skip-errors."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from core.cli import main
from core.review.normalise import colormap_lut
from testkit.heatmaps import P, copy_evidence, tissue_coords, truncate_evidence

WIDTH = 480  # small PNGs keep the tests fast


def _run(cohort, ev_dir, out, *extra):
    return main(["heatmaps", "--manifest", str(cohort.manifest), "--evidence", str(ev_dir), "--out", str(out),
                 "--annotations", str(cohort.root / "annotations"), "--width", str(WIDTH), "--top-k", "4", *extra])


def test_outputs_png_size_and_colour_bar(demo_cohort, tmp_path, capsys):
    cohort, evidence = demo_cohort
    out = tmp_path / "out"
    assert _run(cohort, next(iter(evidence.values())).parent, out, "--maps", "attention,ig") == 0
    err = capsys.readouterr().err
    assert all(f"{sid}: 2 map(s)" in err for sid in cohort.slide_ids) and "4 slide(s) drawn, 0 already done" in err
    for sid in cohort.slide_ids:
        folder = out / sid
        rec = json.loads((folder / "heatmaps.json").read_text())
        assert sorted(rec["outputs"]) == sorted(
            [f"{sid}.{m}.{kind}" for m in ("attention", "ig") for kind in ("png", "overlay.tiff", "top4.png")]
            + [f"{sid}.subset.truth.geojson", f"{sid}.subset.top5.geojson"])
        assert all((folder / f).is_file() for f in rec["outputs"])
        with Image.open(folder / f"{sid}.attention.png") as png:
            size, rgb = png.size, np.asarray(png.convert("RGB")).astype(int)
        assert size == (WIDTH, WIDTH - min(160, WIDTH // 4))  # square slide: height = image part's width
        # the colour bar says the normalisation in words and shows the end values
        att = rec["maps"]["attention"]
        assert att["colorbar_label"] == "attention: this slide: clipped to percentiles 1–99"
        assert att["colorbar_ends"] == [f"{att['vmin']:.3g}", f"{att['vmax']:.3g}"]
        assert rec["maps"]["ig"]["colorbar_label"] == "ig: this slide: centred at 0 (±max |score|)"
        assert rec["maps"]["ig"]["cmap"] == "RdBu_r" and att["cmap"] == "viridis"
        assert rec["prediction"]["class"] == "positive"
        # the bar is drawn: the strip right of the image holds the colormap's top and bottom colours
        strip = rgb[:, WIDTH - min(160, WIDTH // 4):].reshape(-1, 3)
        lut = colormap_lut("viridis")[:, :3].astype(int)
        for end in (lut[5], lut[250]):
            assert np.abs(strip - end).sum(axis=1).min() <= 6
        with Image.open(folder / f"{sid}.attention.top4.png") as sheet:
            assert sheet.size[0] == 2 * (160 + 4) + 4


def test_geojson_round_trips_through_the_annotation_reader(demo_cohort, tmp_path):
    import shapely

    from core.data.annotations import read_annotations

    cohort, evidence = demo_cohort
    out = tmp_path / "out"
    assert _run(cohort, next(iter(evidence.values())).parent, out, "--maps", "attention", "--subsets", "truth",
                "--top-k", "0") == 0
    truth = json.loads(cohort.truth.read_text())["slides"]
    checked = 0
    for sid in cohort.slide_ids:
        coords, epi = tissue_coords(truth[sid]["cells"])
        path = out / sid / f"{sid}.subset.truth.geojson"
        anns = read_annotations(path)
        assert all(a.classification == "truth" for a in anns)
        assert sum(a.properties["n_patches"] for a in anns) == int(epi.sum())
        want = shapely.union_all([shapely.box(x, y, x + P, y + P) for x, y in coords[epi]]) if epi.any() else None
        got = shapely.union_all([a.geometry for a in anns]) if anns else None
        if want is None:
            assert got is None
        else:
            assert got.symmetric_difference(want).area < 1e-6 * want.area
            checked += 1
    assert checked >= 1  # a positive slide's cluster was compared


def test_resume_skips_done_slides_and_redoes_changed_ones(demo_cohort, tmp_path, capsys):
    from core.evidence.evidence_file import add_scores, read_evidence

    cohort, evidence = demo_cohort
    ev_dir = copy_evidence(evidence, tmp_path / "ev")
    out = tmp_path / "out"
    assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0") == 0
    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0") == 0
    err = capsys.readouterr().err
    assert "4 slide(s) already done by an earlier run" in err and "0 slide(s) drawn, 4 already done" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    # the resume is the scheduler's ledger (one run id per invocation no longer hides its records)
    records = [json.loads(p.read_text()) for p in sorted((out / ".evident" / "ledger" / "heatmaps").glob("*.json"))]
    assert len(records) == 4 and all(r["state"] == "done" for r in records)
    assert [r["input"] for r in records] == [json.loads((out / r["slide_id"] / "heatmaps.json").read_text())["digest"]
                                             for r in records]
    # an evidence file that changed is drawn again; a removed output is written again
    first = cohort.slide_ids[0]
    ev = read_evidence(ev_dir / f"{first}.evidence.h5")
    add_scores(ev_dir / f"{first}.evidence.h5", "attention", np.asarray(ev.scores["attention"])[::-1].copy())
    (out / cohort.slide_ids[1] / f"{cohort.slide_ids[1]}.attention.overlay.tiff").unlink()
    assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0") == 0
    err = capsys.readouterr().err
    assert "2 slide(s) drawn, 2 already done" in err
    assert (out / cohort.slide_ids[1] / f"{cohort.slide_ids[1]}.attention.overlay.tiff").is_file()
    redrawn = {p for p, t in stamps.items() if p.stat().st_mtime_ns != t}
    assert {p.parent.name for p in redrawn} == {first, cohort.slide_ids[1]}
    # other settings are other outputs: not skipped
    assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0", "--opacity", "0.3") == 0
    assert "4 slide(s) drawn" in capsys.readouterr().err


def test_damaged_evidence_one_message_and_skip_errors_finishes_the_others(demo_cohort, tmp_path, capsys):
    cohort, evidence = demo_cohort
    ev_dir = copy_evidence(evidence, tmp_path / "ev")
    bad_id = cohort.slide_ids[2]
    bad = truncate_evidence(ev_dir, bad_id)
    out = tmp_path / "out"
    assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0") == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error") and "not started" not in ln]
    assert len(err) == 1 and str(bad) in err[0]
    assert not (out / bad_id / "heatmaps.json").exists()
    for scale in ("slide", "cohort"):
        out = tmp_path / f"out_{scale}"
        assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0", "--skip-errors", "--scale", scale) == 2
        err = capsys.readouterr().err
        assert "3 slide(s) drawn" in err and "1 failed" in err  # the others are drawn; the status says one failed
        failed = json.loads((out / "heatmaps_failures.json").read_text())["failed"]
        assert list(failed) == [bad_id] and str(bad) in failed[bad_id]
        for sid in cohort.slide_ids:
            assert (out / sid / "heatmaps.json").exists() == (sid != bad_id)
    # repaired: per-slide scales draw only that slide and clear the failure record; the cohort scale
    # changes with the slide it now includes, so every slide is drawn again on it
    copy_evidence({bad_id: evidence[bad_id]}, ev_dir)
    for scale, said in (("slide", "1 slide(s) drawn, 3 already done"), ("cohort", "4 slide(s) drawn, 0 already done")):
        out = tmp_path / f"out_{scale}"
        assert _run(cohort, ev_dir, out, "--maps", "attention", "--top-k", "0", "--skip-errors", "--scale", scale) == 0
        assert said in capsys.readouterr().err
        assert not (out / "heatmaps_failures.json").exists()


def test_missing_map_names_the_file_and_the_maps_it_has(demo_cohort, tmp_path, capsys):
    cohort, evidence = demo_cohort
    assert _run(cohort, next(iter(evidence.values())).parent, tmp_path / "o", "--maps", "lrp") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no map 'lrp'" in err[0] and "attention, ig, gate" in err[0] and ".evidence.h5" in err[0]
    assert "3 slide(s) not started" in err[1]  # the scheduler stops after the first failure and says so


def test_evidence_file_list_with_slides_folder(demo_cohort, tmp_path):
    cohort, evidence = demo_cohort
    files = [str(p) for p in list(evidence.values())[:2]]
    out = tmp_path / "out"
    assert main(["heatmaps", "--evidence", *files, "--slides", str(cohort.root / "slides"), "--out", str(out),
                 "--maps", "gate", "--width", str(WIDTH), "--top-k", "0"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name != ".evident") == sorted(list(evidence)[:2])


def test_inputs_that_do_not_belong_together_are_refused_with_one_message(demo_cohort, tmp_path, capsys):
    from core.data.bag import FeatureBag
    from core.data.bags import write_bag

    cohort, evidence = demo_cohort
    ev_dir = next(iter(evidence.values())).parent
    # a manifest row whose evidence file is missing: named with where it was looked for
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(cohort, empty, tmp_path / "o1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no evidence file for slide '{cohort.slide_ids[0]}'" in err[0]
    assert not (tmp_path / "o1").exists()
    # a feature file of another patching: the evidence file is named, the slide is not drawn
    feats = tmp_path / "feats"
    feats.mkdir()
    for sid in cohort.slide_ids:
        coords = np.array([[0, 0], [P, 0]], np.int64)
        write_bag(feats / f"{sid}.h5", FeatureBag(np.zeros((2, 3), np.float32), coords, P, sid))
    assert _run(cohort, ev_dir, tmp_path / "o2", "--features", str(feats)) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if "not started" not in ln]
    assert len(err) == 1 and "patch coordinates differ from the feature file" in err[0] and ".evidence.h5" in err[0]


def test_a_slide_without_mpp_gets_an_overlay_without_resolution_tags(tmp_path):
    import openslide

    from core.evidence.evidence_file import Evidence, write_evidence

    rng = np.random.default_rng(0)
    (tmp_path / "slides").mkdir()
    Image.fromarray(rng.integers(0, 255, (300, 520, 3), dtype=np.uint8)).save(tmp_path / "slides" / "plain.png")
    coords = np.array([[x, y] for y in (0, 100, 200) for x in range(0, 500, 100)], np.int64)
    write_evidence(tmp_path / "plain.evidence.h5", Evidence(slide_id="plain", coords=coords,
                                                             scores={"attention": rng.random(len(coords))}))
    out = tmp_path / "out"
    assert main(["heatmaps", "--evidence", str(tmp_path / "plain.evidence.h5"), "--slides", str(tmp_path / "slides"),
                 "--out", str(out), "--width", "300", "--top-k", "3"]) == 0
    with openslide.OpenSlide(str(out / "plain" / "plain.attention.overlay.tiff")) as o:
        assert o.dimensions == (6, 3) and "openslide.mpp-x" not in o.properties
        assert "1 px = 100 slide level-0 px" in o.properties["tiff.ImageDescription"]
