"""Anchor sources: spec parsing, bank files, k-means prototypes, exemplars, prompt sets."""

from __future__ import annotations

import numpy as np
import pytest

from core.anchors import (
    exemplar_anchor,
    load_anchors,
    load_prompt_set,
    parse_anchor_spec,
    prompt_families,
    prototype_anchors,
)
from core.data.anchors import AnchorBank, write_anchor_bank
from core.errors import EvidentError


def test_parse_spec(tmp_path):
    assert parse_anchor_spec("prototypes:8").m == 8
    assert parse_anchor_spec("prototype:3").kind == "prototypes"
    for bad in ("prototypes:", "prototypes:0", "prototypes:x"):
        with pytest.raises(EvidentError, match="prototypes:M"):
            parse_anchor_spec(bad)
    with pytest.raises(EvidentError, match="not found"):
        parse_anchor_spec(str(tmp_path / "missing.h5"))


def test_bank_file_roundtrip_through_spec(tmp_path, rng):
    bank = AnchorBank(("a", "b", "c"), rng.standard_normal((3, 7)), "conch")
    path = tmp_path / "bank.npz"
    write_anchor_bank(path, bank)
    got = load_anchors(str(path))
    assert got.prompts == bank.prompts and got.digest() == bank.digest()


def test_prototypes_are_kmeans_centres_deterministic(rng):
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)
    x = np.concatenate([c + 0.1 * rng.standard_normal((50 + 20 * i, 2)) for i, c in enumerate(centres)])
    a = prototype_anchors(x, 3, seed=0)
    b = prototype_anchors([x[:100], x[100:]], 3, seed=0)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert a.prompts == ("prototype 1", "prototype 2", "prototype 3") and a.encoder == "kmeans"
    # largest cluster first, each centre near a true centre
    np.testing.assert_allclose(a.embeddings, centres[[2, 1, 0]], atol=0.1)
    assert load_anchors("prototypes:3", x).digest() == a.digest()


def test_prototypes_need_enough_patches():
    with pytest.raises(EvidentError, match="distinct"):
        prototype_anchors(np.ones((10, 3)), 2)
    with pytest.raises(EvidentError, match="training patch features"):
        load_anchors("prototypes:2")


def test_exemplar_anchor_is_mean_of_picked_patches(rng):
    x = rng.standard_normal((20, 5)).astype(np.float32)
    bank = exemplar_anchor(None, x, [1, 4], "tumour bed")
    assert bank.prompts == ("tumour bed",)
    np.testing.assert_allclose(bank.embeddings[0], x[[1, 4]].mean(0), rtol=1e-6)
    bigger = exemplar_anchor(bank, x, [7], "fat")
    assert bigger.prompts == ("tumour bed", "fat") and bank.size == 1
    with pytest.raises(EvidentError, match="exists"):
        exemplar_anchor(bigger, x, [2], "fat")
    with pytest.raises(EvidentError, match="out of range"):
        exemplar_anchor(None, x, [20], "z")
    with pytest.raises(EvidentError, match="at least one"):
        exemplar_anchor(None, x, [], "z")


def test_prompt_sets():
    fams = prompt_families()
    for fam in ("breast", "prostate", "lung", "gastric", "endometrial", "renal"):
        assert fam in fams
        prompts = load_prompt_set(fam)
        assert len(prompts) == 8 and len(set(prompts)) == 8
    assert "gland formation" in load_prompt_set("breast")
    with pytest.raises(EvidentError, match="no prompt set"):
        load_prompt_set("spleen")
