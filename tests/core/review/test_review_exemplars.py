"""Exemplar anchors: a named concept from picked patches, responses, and recovery that changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.anchors import AnchorBank, read_anchor_bank
from core.errors import EvidentError
from core.review.exemplars import (
    add_exemplar,
    anchor_space,
    recover_with_bank,
    responses,
    save_bank,
)


@pytest.fixture
def gce_and_bag(opened):
    from core.models.gce import GCEConfig, build_gce
    from core.review.demo import demo_model

    torch.manual_seed(0)
    feats = opened.bag.features
    rng = np.random.default_rng(0)
    anchors = rng.normal(size=(2, 16)).astype(np.float32)
    model = build_gce(demo_model(in_dim=feats.shape[1]), anchors, GCEConfig(), prompts=("stroma", "fat")).eval()
    return model, opened.bag


def test_exemplar_in_the_models_anchor_space(gce_and_bag, tmp_path):
    model, bag = gce_and_bag
    space = anchor_space(model, bag.features, bag.coords)
    assert space.points.shape == (bag.n_patches, 16) and space.bank.prompts == ("stroma", "fat")
    assert space.gates.shape == (bag.n_patches,) and space.class_weights.shape == (2,)
    dark = np.argsort(-bag.features[:, 3])[:5]  # the darkest (tissue-densest) real patches
    bank = add_exemplar(space, None, dark, "dense tissue")
    assert bank.prompts == ("stroma", "fat", "dense tissue")
    np.testing.assert_allclose(bank.embeddings[2], space.points[dark].mean(axis=0), rtol=1e-6)
    r = responses(space, bank)
    assert r.shape == (bag.n_patches, 3)
    # the model's own responses for its trained anchors are reproduced
    with torch.inference_mode():
        ref = model(torch.from_numpy(bag.features), torch.from_numpy(bag.coords).float()).responses.double().numpy()
    np.testing.assert_allclose(r[:, :2], ref, atol=1e-5)
    # the exemplar responds most to the patches it was made of
    assert r[dark, 2].mean() > np.median(r[:, 2])
    save_bank(tmp_path / "bank.h5", bank)
    back = read_anchor_bank(tmp_path / "bank.h5")
    assert back.prompts == bank.prompts and np.allclose(back.embeddings, bank.embeddings)


def test_recovery_changes_with_the_edited_bank():
    from core.review.exemplars import AnchorSpace

    # patches 0-19 point along e1, 20-39 along e2 (with a little spread); the model knows only e1
    rng = np.random.default_rng(0)
    pts = np.zeros((40, 2), np.float32)
    pts[:20, 0], pts[20:, 1] = 1.0, 1.0
    pts += rng.normal(0, 0.05, pts.shape).astype(np.float32)
    gates = np.array([0.9, 0.8] + [0.1] * 38)
    space = AnchorSpace(points=pts, bank=AnchorBank(("e1",), np.array([[1.0, 0.0]], np.float32), "model"),
                        gates=gates, class_weights=np.array([2.0]))
    before, _ = recover_with_bank(space, space.bank)
    assert sorted(before.indices.tolist()) == [0, 1] and before.stop_reason != "cap"  # e1 covered by the gated pair
    edited = add_exemplar(space, None, np.array([25, 26]), "e2 concept")
    np.testing.assert_allclose(edited.embeddings[1], pts[[25, 26]].mean(axis=0))
    after, w1 = recover_with_bank(space, edited)
    assert w1.tolist() == [2.0, 2.0]  # the new concept gets the class's mean trained weight
    assert {0, 1} <= set(after.indices.tolist()) and set(after.indices.tolist()) & set(range(20, 40))
    assert after.coverage[1] >= 0.95


def test_bad_exemplars():
    space = anchor_space(None, np.eye(4, dtype=np.float32))
    with pytest.raises(EvidentError, match="name the concept"):
        add_exemplar(space, None, np.array([0]), "  ")
    with pytest.raises(EvidentError, match="at least one patch"):
        add_exemplar(space, None, np.array([], np.int64), "x")
    bank = add_exemplar(space, None, np.array([0, 1]), "x")
    with pytest.raises(EvidentError, match="exists already"):
        add_exemplar(space, bank, np.array([2]), "x")
    with pytest.raises(EvidentError, match="needs the gates"):
        recover_with_bank(space, bank)
    with pytest.raises(EvidentError, match="width"):
        responses(space, AnchorBank(("y",), np.ones((1, 3), np.float32), "x"))
