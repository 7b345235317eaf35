"""Scenario fixtures: a small 5-level pyramid of real CMU tissue with its own reader and maps, the
Compare window on it; a review project whose evidence file holds GCE's ``recovered`` subset and the
``attention_topk`` baseline, a small ``evident demo``-shaped workspace (two slides of the real CMU
region, out-of-fold checkpoints, an audit folder, and the thumbnails / plots / other folds' models
a real workspace holds), and real-input helpers (clicks, keys, drops)."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PySide6.QtGui import QImage

from .review_input import write_gce_evidence


@pytest.fixture(scope="session")
def gce_project(demo_project, tmp_path_factory):
    """``slides/<stem>.svs``, ``features/<stem>.h5``, ``evidence/<stem>.evidence.h5`` (with both
    subsets), ``annotations/<stem>.geojson``; returns the paths and the subsets."""
    from core.data.bags import read_bag

    root = tmp_path_factory.mktemp("gce_project")
    stem = demo_project["slide"].stem
    out = {"root": root}
    for key, sub in (("slide", "slides"), ("features", "features"), ("annotations", "annotations")):
        (root / sub).mkdir()
        out[key] = root / sub / demo_project[key].name
        if key == "slide":
            out[key].symlink_to(demo_project["slide"].resolve())
        else:
            shutil.copy(demo_project[key], out[key])
    bag = read_bag(out["features"])
    (root / "evidence").mkdir()
    out["evidence"] = root / "evidence" / f"{stem}.evidence.h5"
    out["subsets"] = write_gce_evidence(out["evidence"], bag.coords, bag.features[:, 3].astype(np.float64))
    return out


@pytest.fixture(scope="session")
def demo_workspace(demo_project, demo_checkpoint, tmp_path_factory):
    """A workspace laid out as ``evident demo`` writes it (core/demo/pipeline.py), on the real CMU
    region: demo_01 (negative, no failure) and demo_02 (positive, case failure), each with features,
    evidence, truth annotation, its fold's checkpoint; plus thumbnails, a training-curve PNG, the
    ABMIL models and audit plots, which opening must not take for slides or models."""
    from core.data.bags import read_bag

    ws = tmp_path_factory.mktemp("demo_ws")
    bag = read_bag(demo_project["features"])
    ids = {"demo_01": "negative", "demo_02": "positive"}
    for d in ("cohort/slides", "cohort/annotations", "cohort/thumbnails", "features/enc_v1", "evidence",
              "models/gce", "models/abmil/fold_0_0", "audit/folds/fold_0_0/report"):
        (ws / d).mkdir(parents=True)
    (ws / "cohort" / "cohort.json").write_text(json.dumps({"labels": ids}))
    tiny = QImage(8, 8, QImage.Format.Format_RGB32)
    tiny.fill(0xFFFFFF)
    for sid in ids:
        (ws / "cohort" / "slides" / f"{sid}.tiff").symlink_to(demo_project["slide"].resolve())
        shutil.copy(demo_project["annotations"], ws / "cohort" / "annotations" / f"{sid}.geojson")
        shutil.copy(demo_project["features"], ws / "features" / "enc_v1" / f"{sid}.h5")
        write_gce_evidence(ws / "evidence" / f"{sid}.evidence.h5", bag.coords, bag.features[:, 3].astype(np.float64))
        tiny.save(str(ws / "cohort" / "thumbnails" / f"{sid}.png"))
    for fold in (0, 1):
        (ws / "models" / "gce" / f"fold_0_{fold}").mkdir()
        shutil.copy(demo_checkpoint, ws / "models" / "gce" / f"fold_0_{fold}" / "model.pt")
    shutil.copy(demo_checkpoint, ws / "models" / "abmil" / "fold_0_0" / "model.pt")
    tiny.save(str(ws / "models" / "gce" / "training_curves.png"))
    tiny.save(str(ws / "audit" / "folds" / "fold_0_0" / "report" / "aupc.png"))
    with open(ws / "models" / "gce" / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["slide_id", "repeat", "fold", "label", "prob_1"])
        w.writerow(["demo_01", 0, 0, 0, 0.2])
        w.writerow(["demo_02", 0, 1, 1, 0.4])
    with open(ws / "audit" / "per_slide.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["slide_id", "label", "predicted", "phi", "fail_case_failure", "fail_severe", "fold",
                    "slide_path", "features_path", "evidence_path", "annotations_path", "checkpoint_path"])
        for sid, fold, fail in (("demo_01", 0, 0), ("demo_02", 1, 1)):
            w.writerow([sid, int(ids[sid] == "positive"), 0, 0.6, fail, 0, f"fold_0_{fold}",
                        f"../cohort/slides/{sid}.tiff", f"../features/enc_v1/{sid}.h5",
                        f"../evidence/{sid}.evidence.h5", f"../cohort/annotations/{sid}.geojson",
                        f"../models/gce/fold_0_{fold}/model.pt"])
    (ws / "audit" / "cohort.json").write_text(json.dumps({"source": "scenario"}))
    return ws


@pytest.fixture(scope="session")
def pyramid_slide(cmu_slide, tmp_path_factory):
    """A 4096 x 4096 JPEG-tiled pyramidal TIFF (5 levels, downsamples 1-16, 0.499 µm/px, 20x) built
    from the real CMU region by the same code as the large benchmark slide (about 2 s)."""
    from core.slide.pyramid import build_pyramid_tiff

    return build_pyramid_tiff(cmu_slide, tmp_path_factory.mktemp("scenario") / "cmu_4096.tiff", size=(4096, 4096))


@pytest.fixture
def truth_reader(pyramid_slide):
    """An independent core SlideReader of the scenario slide (the truth the view is checked against)."""
    from core.slide.reader import open_slide

    reader = open_slide(pyramid_slide)
    yield reader
    reader.close()


@pytest.fixture
def opened(window, pyramid_slide, qtbot):
    """The main window with the scenario slide open and settled; returns its SlideView."""
    from .driver import settle

    window.open_paths([pyramid_slide])
    view = window.view
    qtbot.waitUntil(lambda: view.reader is not None, timeout=10000)
    settle(view, qtbot)
    return view


@pytest.fixture(scope="session")
def pyramid_project(pyramid_slide, tmp_path_factory):
    """Features, evidence (attention, gate, ... maps) and annotations on the scenario slide's patch grid."""
    from core.review.demo import write_demo_project

    return write_demo_project(pyramid_slide, tmp_path_factory.mktemp("scenario_project"))


@pytest.fixture
def compare_window(window, pyramid_project, qtbot):
    """The main window with the scenario slide and its maps open, and its Compare window (2 panes,
    created as Review > Compare maps creates it) shown and settled."""
    from app.compare.compare_view import CompareView

    from .driver import settle

    p = pyramid_project
    window.open_paths([p["slide"], p["features"], p["evidence"]])
    qtbot.waitUntil(lambda: window.view.reader is not None, timeout=10000)
    compare = CompareView(window.session, window, tile_workers=2)
    compare.resize(1300, 700)
    compare.show()
    qtbot.waitExposed(compare)
    for pane in compare.panes:
        settle(pane.view, qtbot)
    yield compare
    compare.close()


@pytest.fixture
def annotating(window, opened, qtbot):
    """The main window with the scenario slide open, active, the view focused: (window, view, annotator)."""
    window.activateWindow()
    qtbot.waitActive(window)
    view = opened
    view.setFocus()
    return window, view, window.annotator
