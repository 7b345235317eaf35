"""Default layer display: one primary map visible, distinct subset colours, the map in focus."""

from __future__ import annotations

import numpy as np

from core.review.layer_roles import (
    PRIMARY_OPACITY,
    SUBSET_COLOURS,
    default_layers,
    distinct_subset_colour,
    map_in_focus,
    primary_map,
)
from core.review.layers import ScalarLayer, SubsetLayer, regions_layer, scalar_layer, subset_layer


def _maps(*names):
    rng = np.random.default_rng(0)
    return [scalar_layer(n, rng.random(20)) for n in names]


def test_primary_map_is_the_gate_for_gce_models_else_attention_else_the_first():
    layers = _maps("ig", "attention", "gate")
    assert primary_map(layers, has_gates=True) == "gate"
    assert primary_map(layers, has_gates=False) == "attention"
    assert primary_map(_maps("ig", "lrp"), has_gates=False) == "ig"
    assert primary_map([subset_layer("subset: a", [1, 2])], has_gates=True) is None


def test_defaults_show_one_map_at_half_opacity_and_colour_subsets_apart():
    new = _maps("attention", "ig", "lrp", "gate") + [subset_layer(f"subset: {k}", [1, 2, 3])
                                                     for k in ("recovered", "threshold", "attention_topk")]
    assert all(x.settings.visible for x in new)  # what the loaders produce
    out = default_layers(new, has_gates=True)
    assert [x.name for x in out] == [x.name for x in new]
    shown = [x.name for x in out if isinstance(x, ScalarLayer) and x.settings.visible]
    assert shown == ["gate"] and out[3].settings.opacity == PRIMARY_OPACITY
    colours = [x.settings.color for x in out if isinstance(x, SubsetLayer)]
    assert len(set(colours)) == 3 and set(colours) <= set(SUBSET_COLOURS)
    assert all(x.settings.visible and not x.settings.filled for x in out if isinstance(x, SubsetLayer))
    # a second evidence file next to a visible map adds no second visible map
    more = default_layers(_maps("attention after keep"), out, has_gates=False)
    assert not more[0].settings.visible
    # re-reading the same file: the layers it replaces do not count as "already shown"
    again = default_layers(new, out, has_gates=True)
    assert [x.name for x in again if isinstance(x, ScalarLayer) and x.settings.visible] == ["gate"]


def test_a_later_subset_gets_a_free_colour_and_regions_are_untouched():
    a = subset_layer("subset: a", [1])
    b = subset_layer("subset: b", [2])
    assert a.settings.color == b.settings.color
    b2 = distinct_subset_colour(b, [a])
    assert b2.settings.color != a.settings.color and b2.settings.color in SUBSET_COLOURS
    assert distinct_subset_colour(a, [a]) is a  # its own colour does not clash with itself
    r = regions_layer("regions: x", None)
    assert distinct_subset_colour(r, [a]) is r


def test_map_in_focus_is_the_selected_visible_map_else_the_top_visible_map():
    att, ig, gate = _maps("attention", "ig", "gate")
    sub = subset_layer("subset: a", [1])
    layers = [att, ig.with_settings(visible=False), gate, sub]
    assert map_in_focus(layers, "attention").name == "attention"
    assert map_in_focus(layers, "ig").name == "gate"  # hidden: the top visible map
    assert map_in_focus(layers, "subset: a").name == "gate"
    assert map_in_focus(layers, None).name == "gate"
    assert map_in_focus([sub], "subset: a") is None


def test_session_opens_evidence_with_the_defaults(tmp_path):
    from core.data.bag import FeatureBag
    from core.data.bags import write_bag
    from core.evidence.evidence_file import Evidence, Subset, write_evidence
    from core.review.session import ReviewSession

    coords = np.stack(np.meshgrid(np.arange(6) * 256, np.arange(5) * 256), -1).reshape(-1, 2).astype(np.int64)
    n = coords.shape[0]
    write_bag(tmp_path / "s1.h5", FeatureBag(np.zeros((n, 4), np.float32), coords, 256, "s1"))
    rng = np.random.default_rng(0)
    subsets = {k: Subset(np.arange(3, dtype=np.int64) + i, "t") for i, k in enumerate(("recovered", "threshold"))}
    write_evidence(tmp_path / "s1_evidence.h5", Evidence(slide_id="s1", coords=coords, scores={
        "attention": rng.random(n), "ig": rng.normal(size=n)}, subsets=subsets))
    s = ReviewSession()
    s.open([tmp_path / "s1.h5", tmp_path / "s1_evidence.h5"])
    assert [x.name for x in s.layers if isinstance(x, ScalarLayer) and x.settings.visible] == ["attention"]
    colours = [x.settings.color for x in s.layers if isinstance(x, SubsetLayer)]
    assert len(set(colours)) == 2
    s.add_layer(subset_layer("subset: recovered (edited bank)", [5, 6]))  # e.g. the exemplars panel's
    assert len({x.settings.color for x in s.layers if isinstance(x, SubsetLayer)}) == 3
    seen = []
    s.current_layer_changed.connect(seen.append)
    s.set_current_layer("ig")
    s.set_current_layer("ig")
    s.set_current_layer("no such layer")
    assert seen == ["ig", None] and s.current_layer is None
    s.update_layer("ig", visible=True)
    s.set_current_layer("ig")
    assert s.map_in_focus().name == "ig"
