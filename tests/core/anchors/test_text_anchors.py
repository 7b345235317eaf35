"""Text anchors: prompt sets embedded by an open_clip text tower (tiny random CLIP), cached, width-checked,
and ``evident train --gce --anchors text:... --text-encoder PATH`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.anchors import load_anchors, parse_anchor_spec
from core.anchors.prompts import PROMPTS_DIR, load_prompt_set
from core.anchors.text import check_anchor_width, text_anchor_bank
from core.cli import main
from core.data.anchors import read_anchor_bank
from core.data.digits import make_digit_bags, write_digit_bags
from core.errors import EvidentError
from core.models.checkpoint import load_checkpoint
from testkit.clip import save_tiny_clip

SMALL = ["--folds", "2", "--epochs", "1", "--hidden", "8", "--attn-hidden", "8", "--val-fraction", "0"]


@pytest.fixture(autouse=True)
def anchor_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVIDENT_ANCHOR_CACHE", str(tmp_path / "anchor_cache"))
    return tmp_path / "anchor_cache"


@pytest.fixture(scope="module")
def clip64(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny_clip", embed_dim=64)


def test_breast_prompts_embedded_and_cached(clip64, anchor_cache):
    bank, cache = text_anchor_bank(PROMPTS_DIR / "breast.json", str(clip64))
    assert bank.prompts == load_prompt_set("breast") and bank.embeddings.shape == (8, 64)
    np.testing.assert_allclose(np.linalg.norm(bank.embeddings, axis=1), 1.0, atol=1e-5)
    assert bank.encoder == "open_clip:tiny_clip" and cache.parent == anchor_cache
    assert json.loads(cache.with_suffix(".json").read_text())["digest"] == bank.digest()
    assert read_anchor_bank(cache).digest() == bank.digest()
    # the second call reads the cache (same file, same digest), a family name works as well
    mtime = cache.stat().st_mtime_ns
    again, cache2 = text_anchor_bank("breast", str(clip64))
    assert cache2 == cache and cache.stat().st_mtime_ns == mtime and again.digest() == bank.digest()
    # different prompts: another entry
    assert load_anchors("text:lung", text_encoder=str(clip64)).prompts == load_prompt_set("lung")


def test_damaged_cache_is_rebuilt(clip64):
    bank, cache = text_anchor_bank("breast", str(clip64))
    cache.with_suffix(".json").write_text(json.dumps({"digest": "0" * 64}))
    rebuilt, _ = text_anchor_bank("breast", str(clip64))
    assert rebuilt.digest() == bank.digest()
    assert json.loads(cache.with_suffix(".json").read_text())["digest"] == bank.digest()


def test_width_mismatch_names_the_bank_and_both_widths(clip64):
    bank, cache = text_anchor_bank("breast", str(clip64))
    with pytest.raises(EvidentError) as err:
        check_anchor_width(bank, cache, 89)
    msg = str(err.value)
    assert msg.startswith(str(cache)) and "64 wide" in msg and "89 wide" in msg


def test_bad_prompt_set_and_text_encoder(tmp_path, clip64):
    (tmp_path / "p.json").write_text(json.dumps({"prompts": ["a", "a"]}))
    with pytest.raises(EvidentError, match="non-empty and distinct"):
        text_anchor_bank(tmp_path / "p.json", str(clip64))
    with pytest.raises(EvidentError, match="prompt set not found"):
        parse_anchor_spec("text:no_such_family")
    with pytest.raises(EvidentError, match="no open_clip_config.json"):
        text_anchor_bank("breast", str(tmp_path))
    with pytest.raises(EvidentError, match="not in the local Hugging Face cache"):
        text_anchor_bank("breast", "hf-hub:nobody/no-such-clip")


def test_train_gce_with_text_anchors(clip64, tmp_path):
    digits = write_digit_bags(tmp_path / "digits", make_digit_bags(12, max_size=40, n_folds=2))
    out = tmp_path / "run"
    assert main(["train", "--manifest", str(digits), "--host", "abmil", "--out", str(out), *SMALL, "--gce",
                 "--anchors", f"text:{PROMPTS_DIR / 'breast.json'}", "--text-encoder", str(clip64)]) == 0
    bank, _ = text_anchor_bank("breast", str(clip64))
    model, mcfg = load_checkpoint(out / "fold_0_0" / "model.pt")
    assert model.prompts == load_prompt_set("breast") and model.anchor_digest == bank.digest()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gce"]["anchor_digest"] == bank.digest() and cfg["gce"]["text_encoder"] == "open_clip:tiny_clip"
    assert "cd_gap" in json.loads((out / "results.json").read_text())["mean"]


def test_train_refuses_text_anchors_of_another_width(tmp_path, capsys):
    clip16 = save_tiny_clip(tmp_path / "clip16", embed_dim=16)
    digits = write_digit_bags(tmp_path / "digits", make_digit_bags(12, max_size=40, n_folds=2))
    rc = main(["train", "--manifest", str(digits), "--host", "abmil", "--out", str(tmp_path / "run"), *SMALL,
               "--gce", "--anchors", "text:breast", "--text-encoder", str(clip16)])
    err = capsys.readouterr().err
    assert rc == 2 and "16 wide" in err and "64 wide" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "fold_0_0").exists()
