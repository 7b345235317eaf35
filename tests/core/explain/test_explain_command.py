"""``evident explain``: evidence files with one score per method; bad input refused with nothing written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.cli import main
from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.evidence.evidence_file import Evidence, read_evidence, write_evidence
from core.explain.registry import build_explainer
from core.models.checkpoint import save_checkpoint
from testkit.explain import abmil, bag, gce


@pytest.fixture
def setup(tmp_path):
    model = gce(abmil())
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": ["a", "b", "c"]})
    files = []
    for i in range(2):
        x, c = bag(20 + i, seed=i)
        f = tmp_path / f"s{i}.h5"
        write_bag(f, FeatureBag(x, c, 256, f"s{i}"))
        files.append(f)
    return model, ckpt, files, tmp_path


def test_explain_writes_scores_per_method(setup):
    model, ckpt, files, tmp = setup
    out = tmp / "out"
    assert main(["explain", "--model", str(ckpt), "--features", *map(str, files), "--methods", "attention,ig,loo,gate",
                 "--out", str(out), "--target", "1", "--device", "cpu"]) == 0
    ev = read_evidence(out / "s0.evidence.h5")
    assert set(ev.scores) == {"attention", "ig", "leave_one_out", "gce_gate"} and ev.probs.shape == (3,)
    x, c = bag(20, seed=0)
    np.testing.assert_allclose(ev.scores["ig"], build_explainer("ig", model).attribute(x, c, target=1), atol=1e-6)
    np.testing.assert_array_equal(ev.coords, c)
    # a second run keeps what the file already holds
    assert main(["explain", "--model", str(ckpt), "--features", str(files[0]), "--methods", "random", "--out", str(out)]) == 0
    assert set(read_evidence(out / "s0.evidence.h5").scores) == {"attention", "ig", "leave_one_out", "gce_gate", "random"}


def test_explain_ig_method_option(setup):
    model, ckpt, files, tmp = setup
    for method in ("gausslegendre", "riemann_middle"):
        out = tmp / method
        assert main(["explain", "--model", str(ckpt), "--features", str(files[0]), "--methods", "ig",
                     "--ig-method", method, "--ig-steps", "7", "--out", str(out), "--device", "cpu"]) == 0
        x, c = bag(20, seed=0)
        want = build_explainer("ig", model, method=method, n_steps=7).attribute(x, c)
        np.testing.assert_allclose(read_evidence(out / "s0.evidence.h5").scores["ig"], want, atol=1e-6)
    gl = read_evidence(tmp / "gausslegendre" / "s0.evidence.h5").scores["ig"]
    assert np.abs(gl - read_evidence(tmp / "riemann_middle" / "s0.evidence.h5").scores["ig"]).max() > 1e-6


def test_explain_lrp_variant_option(tmp_path):
    from core.models.base import HostConfig
    from core.models.registry import build_host

    torch.manual_seed(0)
    host = build_host("transmil", HostConfig(in_dim=6, n_outputs=3, hidden=8, dropout=0.0, extra=(("heads", 2),))).eval()
    ckpt = tmp_path / "t.pt"
    save_checkpoint(ckpt, host, {"host": "transmil", "host_config": host.config.to_dict(), "task": "classification"})
    x, c = bag(20, seed=0)
    write_bag(tmp_path / "s0.h5", FeatureBag(x, c, 256, "s0"))
    got = {}
    for variant in ("xmil_code", "conserving"):
        assert main(["explain", "--model", str(ckpt), "--features", str(tmp_path / "s0.h5"), "--methods", "lrp",
                     "--lrp-variant", variant, "--out", str(tmp_path / variant), "--device", "cpu"]) == 0
        got[variant] = read_evidence(tmp_path / variant / "s0.evidence.h5").scores["lrp"]
        np.testing.assert_allclose(got[variant], build_explainer("lrp", host, variant=variant).attribute(x, c), atol=1e-6)
    assert np.abs(got["xmil_code"] - got["conserving"]).max() > 1e-4


@pytest.mark.parametrize("extra,msg", [
    (["--ig-steps", "0"], "--ig-steps must be at least 1"),
    (["--methods", "attention,bogus"], "unknown explanation method 'bogus'"),
    (["--target", "7"], "target 7 out of range"),
    (["--device", "cuda:9"], "'cuda:9' requested"),
])
def test_bad_options_write_nothing(setup, capsys, extra, msg):
    _, ckpt, files, tmp = setup
    out = tmp / "out"
    assert main(["explain", "--model", str(ckpt), "--features", *map(str, files), "--out", str(out), *extra]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_evidence_file_of_another_slide_is_refused(setup, capsys):
    _, ckpt, files, tmp = setup
    out = tmp / "out"
    out.mkdir()
    other = out / "s1.evidence.h5"
    _, c = bag(5, seed=9)
    write_evidence(other, Evidence(slide_id="s1", coords=c))
    before = other.read_bytes()
    assert main(["explain", "--model", str(ckpt), "--features", *map(str, files), "--methods", "attention", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "belongs to another slide" in err and err.startswith("error: ")
    assert other.read_bytes() == before and not (out / "s0.evidence.h5").exists()


def test_bag_too_large_for_memory_is_refused(tmp_path):
    from core.errors import EvidentError
    from core.models.access import check_bag_fits

    with pytest.raises(EvidentError, match=r"bag too large for memory: 100000 patches × 1024 features"):
        check_bag_fits(tmp_path / "big.h5", 100_000, 1024, 512, limit=1024**3)
    check_bag_fits(tmp_path / "small.h5", 100, 16, 8, limit=1024**3)
