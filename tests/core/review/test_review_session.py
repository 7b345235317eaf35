"""The review session on the real CMU slide: open a project folder, layers, hover, history."""

from __future__ import annotations

import numpy as np
import pytest

from core.review.demo import write_demo_project
from core.review.layers import ScalarLayer, scalar_layer
from core.review.patch_readout import PatchReadout
from core.review.session import InterventionRecord, ReviewSession


@pytest.fixture(scope="module")
def project(cmu_slide, tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    paths = write_demo_project(cmu_slide, root)
    (root / "slides").mkdir()
    (root / "slides" / cmu_slide.name).symlink_to(cmu_slide)
    return root, paths


def test_open_folder_loads_everything(project):
    root, paths = project
    s = ReviewSession()
    seen = []
    s.files_changed.connect(lambda: seen.append("files"))
    s.open([root])
    assert seen == ["files"]
    assert s.slide.dimensions == (2220, 2967)
    assert s.files.features == paths["features"] and s.files.evidence == paths["evidence"]
    names = [x.name for x in s.layers]
    assert names[:3] == ["attention", "ig", "gate"] and "subset: gce" in names and "regions: Tumor" in names
    assert s.layer("ig").settings.colormap == "RdBu_r"
    assert s.grid.is_lattice and s.grid.shape == (2967 // 256, 2220 // 256)
    s.close()


def test_hover_readout_rank_and_gate(project):
    root, _ = project
    s = ReviewSession()
    s.open([root])
    att = s.layer("attention").values
    top = int(np.argmax(att))
    x, y = s.grid.coords[top] + 10
    d = s.describe_patch(x, y)
    assert isinstance(d, PatchReadout) and d.coords == tuple(int(v) for v in s.grid.coords[top])
    assert d.index == top and d.layers["attention"].rank == 1
    assert d.layers["attention"].percentile == pytest.approx(100.0)
    assert d.gate == pytest.approx(s.gates[top]) and d.anchor.name == "dense tumour"
    assert s.describe_patch(-5, -5) is None
    s.close()


def test_layer_settings_order_and_history(project):
    root, _ = project
    s = ReviewSession()
    s.open([root])
    changed = []
    s.layer_changed.connect(changed.append)
    s.update_layer("attention", opacity=0.8, colormap="magma")
    assert changed == ["attention"] and s.layer("attention").settings.opacity == 0.8
    with pytest.raises(ValueError):
        s.update_layer("attention", opacity=2.0)
    s.move_layer("gate", 0)
    assert s.layers[0].name == "gate"
    n = s.bag.n_patches
    with pytest.raises(ValueError):
        s.set_selection(np.array([n]))
    s.set_selection(np.array([3, 1, 3]))
    assert s.selection.tolist() == [1, 3]
    rec = InterventionRecord("keep", s.selection, np.array([0.4, 0.6]), np.array([0.7, 0.3]), ("a", "b"), 0.3, ("Δ",))
    s.push_intervention(rec, (scalar_layer("Δ", np.zeros(n)),))
    assert "Δ" in [x.name for x in s.layers] and len(s.history) == 1
    assert s.undo() is rec and "Δ" not in [x.name for x in s.layers] and s.undo() is None
    s.close()


def test_bad_files_are_reported_not_raised(project, tmp_path):
    root, paths = project
    bad = tmp_path / "CMU-1-Small-Region.svs"
    bad.write_bytes(b"garbage")
    s = ReviewSession()
    msgs = []
    s.message.connect(lambda level, text: msgs.append((level, text)))
    s.open([bad, tmp_path / "missing.h5"])
    assert s.slide is None
    assert any(level == "error" and str(bad) in text for level, text in msgs)
    assert any("missing.h5" in text for _, text in msgs)
    assert bad.read_bytes() == b"garbage"


def test_evidence_of_another_slide_is_refused(project, tmp_path):
    from core.evidence.evidence_file import Evidence, write_evidence

    root, paths = project
    other = tmp_path / "evidence" / f"{paths['slide'].stem}_evidence.h5"
    other.parent.mkdir()
    write_evidence(other, Evidence(slide_id="x", coords=np.array([[0, 0], [256, 0]]), scores={"attention": np.ones(2)}))
    s = ReviewSession()
    s.open([paths["slide"], paths["features"], other])
    assert s.bag is not None and not [x for x in s.layers if isinstance(x, ScalarLayer)]
    assert any(level == "error" and "another slide" in text for level, text in s.messages)
    s.close()
