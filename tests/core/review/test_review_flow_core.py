"""Qt-free parts of the review flow: the GCE subset by name, a failed open keeps the review, the
intervention summary, what opening a demo workspace / audit folder means, cohort rows' files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.review.layers import gce_subset_layer, scalar_layer, subset_layer
from core.review.session import InterventionRecord, ReviewSession
from testkit.review import demo_project_on


@pytest.fixture(scope="module")
def project(cmu_slide, tmp_path_factory):
    paths = demo_project_on(cmu_slide, tmp_path_factory.mktemp("flow_proj"))
    return paths["root"], paths


def test_gce_subset_is_chosen_by_name_not_order():
    topk, rec, thr = (subset_layer(f"subset: {n}", np.array(i)) for n, i in
                      (("attention_topk", [1, 2]), ("recovered", [3]), ("threshold", [4])))
    att = scalar_layer("attention", np.ones(5))
    assert gce_subset_layer([att, topk, thr, rec]) is rec
    assert gce_subset_layer([att, topk, thr]) is None  # a baseline is never "the GCE subset"
    demo = subset_layer("subset: gce", np.array([0]))
    assert gce_subset_layer([topk, demo]) is demo and gce_subset_layer([demo, rec]) is rec


def _state(s):
    return (s.slide, s.bag, s.grid, s.files, [x.name for x in s.layers], list(s.history), s.selection.tolist())


def test_a_failed_open_keeps_the_review(project, tmp_path):
    root, paths = project
    s = ReviewSession()
    s.open([root])
    s.set_selection(np.array([1, 2]))
    s.push_intervention(InterventionRecord("keep", np.array([1, 2]), np.array([0.3, 0.7]), np.array([0.6, 0.4]),
                                           ("a", "b"), -0.3))
    closing = []
    s.closing.connect(lambda: closing.append(1))
    before = _state(s)
    bad = tmp_path / "other.svs"
    bad.write_bytes(b"garbage")
    s.open([bad])
    assert _state(s) == before and closing == []
    assert s.messages[-1][0] == "error" and "other.svs" in s.messages[-1][1] and "is kept" in s.messages[-1][1]
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"not a model")
    s.open([junk])
    assert _state(s) == before and "model.pt" in s.messages[-1][1]
    # a group of another slide whose every file fails: kept as well
    other = tmp_path / "features"
    other.mkdir()
    (other / "zzz.h5").write_bytes(b"")  # empty: not HDF5
    s.open([other / "zzz.h5"])
    assert _state(s) == before
    assert s.slide.dimensions == (2220, 2967)  # still open, not closed
    # a good slide replaces it, and the old one is released first
    s.open([paths["slide"]])
    assert closing == [1] and s.history == [] and s.bag is None
    s.close()


def test_memory_error_is_a_message(project, monkeypatch):
    import core.slide.reader as reader

    _, paths = project
    monkeypatch.setattr(reader, "open_slide", lambda p: (_ for _ in ()).throw(MemoryError()))
    s = ReviewSession()
    s.open([paths["slide"]])
    assert s.slide is None and s.files is None
    assert s.messages == [("error", f"{paths['slide']}: not enough memory to read it")]


def test_evidence_alone_then_matching_and_foreign_features(project, tmp_path):
    from core.data.bag import FeatureBag
    from core.data.bags import read_bag, write_bag

    _, paths = project
    s = ReviewSession()
    s.open([paths["evidence"]])
    bag = read_bag(paths["features"])
    assert s.bag is None and np.array_equal(s.grid.coords, bag.coords) and s.n_patches == bag.n_patches
    assert s.grid.patch_size_level0_px == bag.patch_size_level0
    assert {"attention", "ig", "gate", "subset: gce"} <= {x.name for x in s.layers}
    s.set_selection(np.array([0, bag.n_patches - 1]))
    foreign = tmp_path / "feats" / f"{paths['features'].stem}.h5"
    foreign.parent.mkdir()
    write_bag(foreign, FeatureBag(bag.features[:-1], bag.coords[:-1], bag.patch_size_level0, "x"))
    s.open([foreign])
    assert s.bag is None and "differ from the open evidence" in s.messages[-1][1]
    s.open([paths["features"]])
    assert s.bag is not None and s.files.evidence == paths["evidence"]


def test_record_summary_and_phi():
    r = InterventionRecord("remove", np.arange(4), np.array([0.2, 0.8]), np.array([0.5, 0.5]), ("a", "b"), -0.3,
                           snr={"S": 0.1, "N": 0.3, "R": None}, phi_before=0.8, device="cpu")
    assert r.phi == pytest.approx((0.8, 0.5))
    text = r.summary()
    assert text.startswith("removed 4 patches: Φ 0.800 → 0.500 (Δ -0.300).")
    assert "S (keep-only drop) +0.100, N (complement drop) +0.300." in text and "R (" not in text
    assert text.endswith("(re-predicted on cpu).")
    old = InterventionRecord("keep", np.arange(2), np.array([0.1, 0.9]), np.array([0.4, 0.6]), ("a", "b"), -0.3)
    assert old.phi == pytest.approx((0.9, 0.6)) and "Φ 0.900 → 0.600" in old.summary()


def test_session_file_keeps_phi_and_device(project, tmp_path):
    from core.review.session_file import read_session, restore_session, save_session

    root, _ = project
    s = ReviewSession()
    s.open([root])
    s.push_intervention(InterventionRecord("keep", np.array([1]), np.array([0.3, 0.7]), np.array([0.6, 0.4]),
                                           ("a", "b"), -0.3, (), {"S": 0.3, "N": 0.0}, 0.7, "cuda:0"))
    save_session(tmp_path / "s.json", s)
    t = ReviewSession()
    restore_session(t, read_session(tmp_path / "s.json"))
    assert t.history[0].summary() == s.history[0].summary() and "cuda:0" in t.history[0].summary()
    s.close()
    t.close()


def _fake_workspace(tmp_path, paths, checkpoint_bytes=b"x"):
    import json

    ws = tmp_path / "ws"
    for d in ("cohort/slides", "cohort/annotations", "cohort/thumbnails", "features/enc", "evidence",
              "models/gce/fold_0_0", "models/gce/fold_0_1", "audit"):
        (ws / d).mkdir(parents=True)
    (ws / "cohort" / "cohort.json").write_text(json.dumps({"labels": {"d1": "negative", "d2": "positive"}}))
    for sid in ("d1", "d2"):
        (ws / "cohort" / "slides" / f"{sid}.tiff").symlink_to(paths["slide"].resolve())
        shutil.copy(paths["features"], ws / "features" / "enc" / f"{sid}.h5")
        (ws / "evidence" / f"{sid}.evidence.h5").write_bytes(b"x")
        (ws / "cohort" / "annotations" / f"{sid}.geojson").write_text("{}")
        (ws / "cohort" / "thumbnails" / f"{sid}.png").write_bytes(b"x")
    for f in (0, 1):
        (ws / "models" / "gce" / f"fold_0_{f}" / "model.pt").write_bytes(checkpoint_bytes)
    (ws / "models" / "gce" / "predictions.csv").write_text("slide_id,repeat,fold\nd1,0,0\nd2,0,1\nd2,1,0\n")
    (ws / "audit" / "per_slide.csv").write_text("slide_id\nd1\nd2\n")
    return ws


def test_plan_open_demo_workspace_and_audit_folder(project, tmp_path):
    from core.demo.opening import demo_view_files
    from core.review.opening import is_audit_folder, plan_open

    _, paths = project
    ws = _fake_workspace(tmp_path, paths)
    files = demo_view_files(ws)
    assert [f.relative_to(ws).as_posix() for f in files] == [
        "cohort/slides/d2.tiff", "features/enc/d2.h5", "evidence/d2.evidence.h5", "cohort/annotations/d2.geojson",
        "models/gce/fold_0_1/model.pt", "audit"]
    assert demo_view_files(ws, "d1")[4] == ws / "models" / "gce" / "fold_0_0" / "model.pt"
    plan = plan_open([ws, paths["features"]])
    assert plan.files == (*files[:-1], paths["features"]) and plan.audits == (ws / "audit",)
    assert plan_open([ws / "audit"]).audits == (ws / "audit",) and is_audit_folder(ws / "audit")
    assert not is_audit_folder(ws / "cohort")


def test_folder_walk_skips_thumbnails_and_plots(project, tmp_path):
    from core.review.matching import collect

    root, paths = project
    (tmp_path / "p" / "thumbs").mkdir(parents=True)
    (tmp_path / "p" / "thumbs" / "x.png").write_bytes(b"x")
    (tmp_path / "p" / "curve.jpg").write_bytes(b"x")
    named = tmp_path / "p" / "direct.png"
    named.write_bytes(b"x")
    entries, problems = collect([tmp_path / "p", named])
    assert [p for p, _ in entries] == [named] and problems == []


def test_cohort_row_files_include_annotations_and_checkpoint(tmp_path):
    from core.review.cohort_table import read_audit_folder

    (tmp_path / "a.svs").write_bytes(b"x")
    (tmp_path / "a.geojson").write_text("{}")
    (tmp_path / "m.pt").write_bytes(b"x")
    (tmp_path / "per_slide.csv").write_text("slide_id,slide_path,annotations_path,checkpoint_path,phi\n"
                                            "a,a.svs,a.geojson,m.pt,0.5\n")
    row = read_audit_folder(tmp_path).rows[0]
    assert row.files == [tmp_path / "a.svs", tmp_path / "a.geojson", tmp_path / "m.pt"]
    assert "annotations_path" not in read_audit_folder(tmp_path).numbers


def test_checkpoint_with_another_slide_does_not_make_the_open_slide_a_group(tmp_path):
    from core.review.filekinds import FileKind
    from core.review.matching import match_files

    entries = [(tmp_path / "b.svs", FileKind.SLIDE), (tmp_path / "b.h5", FileKind.FEATURES),
               (tmp_path / "m.pt", FileKind.CHECKPOINT)]
    r = match_files(entries, current_stem="a")
    assert [g.stem for g in r.groups] == ["b"] and r.groups[0].checkpoint == tmp_path / "m.pt"
    alone = match_files([(tmp_path / "m.pt", FileKind.CHECKPOINT)], current_stem="a")
    assert [g.stem for g in alone.groups] == ["a"]  # a checkpoint dropped alone is for the open slide


def test_restoring_a_session_whose_files_fail_keeps_the_review(project, tmp_path):
    from core.review.session_file import read_session, restore_session, save_session

    root, paths = project
    broken = tmp_path / "gone.svs"
    broken.write_bytes(b"garbage")
    other = ReviewSession()
    other.files = __import__("core.review.matching", fromlist=["SlideFiles"]).SlideFiles(stem="gone", slide=broken)
    save_session(tmp_path / "s.json", other)
    s = ReviewSession()
    s.open([root])
    before = _state(s)
    view, problems = restore_session(s, read_session(tmp_path / "s.json"))
    assert view is None and _state(s) == before
    assert any("gone.svs" in p for p in s.messages[-1]) and "review on screen is kept" in problems[-1]
    s.close()
