"""Imported peer checkpoints compute what the peer's published code computes (tests/testkit/peers):
the same outputs and attention to 1e-5 on random bags of several sizes, in eval mode."""

from __future__ import annotations

import pytest
import torch

from core.models.peers import import_peer
from testkit.peers import abmil as ref_abmil
from testkit.peers import clam as ref_clam
from testkit.peers import dsmil as ref_dsmil
from testkit.peers import dtfd as ref_dtfd
from testkit.peers import transmil as ref_transmil
from testkit.peers import xmil as ref_xmil

SIZES = (1, 2, 7, 60, 333)
TOL = {"atol": 1e-5, "rtol": 1e-5}


def _imported(tmp_path, peer, state, **kw):
    path = tmp_path / f"{peer}.pth"
    torch.save(state, path)
    return import_peer(peer, path, **kw)


def _bags(d, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g) for n in SIZES]


def test_abmil_gated_matches_attention_deep_mil(tmp_path):
    s = ref_abmil.random_state(d=800, m=64, l=32)
    model, config = _imported(tmp_path, "abmil", s)
    assert config["host"] == "abmil" and config["imported"]["not_imported"] == sorted(
        k for k in s if k.startswith("feature_extractor_part1"))
    with torch.no_grad():
        for x in _bags(800):
            y_prob, a = ref_abmil.forward(s, x)
            out = model(x)
            torch.testing.assert_close(torch.softmax(out.output, 0)[1], y_prob[0, 0], **TOL)
            torch.testing.assert_close(out.output[1] - out.output[0], torch.logit(y_prob[0, 0].double()).float(),
                                       atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(out.attention, a[0], **TOL)


@pytest.mark.parametrize("multi", [False, True], ids=["clam_sb", "clam_mb"])
@pytest.mark.parametrize("c", [2, 3])
def test_clam_matches_model_clam(tmp_path, multi, c):
    s = ref_clam.random_state(d=48, h=32, a=16, c=c, multi=multi)
    model, config = _imported(tmp_path, "clam_mb" if multi else "clam_sb", s)
    assert config["host"] == ("clam_mb" if multi else "clam_sb")
    with torch.no_grad():
        for x in _bags(48):
            logits, a = ref_clam.forward(s, x, multi)
            out = model(x)
            torch.testing.assert_close(out.output, logits[0], **TOL)
            k = int(logits[0].argmax()) if multi else 0  # MB: the predicted class's branch
            torch.testing.assert_close(out.attention, a[k], **TOL)


@pytest.mark.parametrize("peer,layers,method", [
    ("transmil", ("layer1.", "layer2."), "nystrom"),
    ("xmil", ("translayers.0.", "translayers.1."), "nystrom"),
    ("xmil", ("translayers.0.", "translayers.1."), "dot_prod"),
])
def test_transmil_matches_published_code(tmp_path, peer, layers, method):
    s = ref_transmil.random_state(d=24, h=32, c=3, layers=layers)
    options = {"attention": method} if peer == "xmil" else None
    model, config = _imported(tmp_path, peer, s, options=options)
    assert config["host"] == "transmil_peer"
    with torch.no_grad():
        for x in _bags(24):
            logits, maps, n = ref_transmil.forward(s, x, layers, method)
            out = model(x)
            torch.testing.assert_close(out.output, logits[0], **TOL)
            torch.testing.assert_close(out.attention, ref_transmil.class_token_rollout(maps, n), **TOL)


def test_transmil_without_value_convolution(tmp_path):
    layers = ("translayers.0.", "translayers.1.")
    s = ref_transmil.random_state(d=24, h=32, c=2, layers=layers, residual=False)
    model, config = _imported(tmp_path, "xmil", s)
    assert config["host_config"]["extra"]["residual_kernel"] == 0
    with torch.no_grad():
        for x in _bags(24):
            torch.testing.assert_close(model(x).output, ref_transmil.forward(s, x, layers)[0][0], **TOL)


@pytest.mark.parametrize("c", [2, 4])
def test_dsmil_matches_dsmil_wsi(tmp_path, c):
    s = ref_dsmil.random_state(d=40, c=c)
    model, config = _imported(tmp_path, "dsmil", s)
    assert config["host"] == "dsmil"
    with torch.no_grad():
        for x in _bags(40):
            classes, bag, a = ref_dsmil.forward(s, x)
            out = model(x)
            torch.testing.assert_close(out.output, bag[0], **TOL)
            torch.testing.assert_close(out.instance_logits, classes, **TOL)
            torch.testing.assert_close(out.attention, a[:, int(bag[0].argmax())], **TOL)


@pytest.mark.parametrize("head", ["classifier", "linear_head"])
def test_xmil_attention_mil_matches_xmil(tmp_path, head):
    s = ref_xmil.random_state(d=40, h=32, a=16, c=3, head=head)
    model, config = _imported(tmp_path, "xmil", s)
    assert config["host"] == "attention_mil"
    with torch.no_grad():
        for x in _bags(40):
            logits, att = ref_xmil.forward(s, x)
            out = model(x)
            torch.testing.assert_close(out.output, logits[0], **TOL)
            torch.testing.assert_close(out.attention, att[:, 0], **TOL)


@pytest.mark.parametrize("distill", ["AFS", "MaxMinS", "MaxS"])
def test_dtfd_matches_dtfd_mil_for_the_same_split(tmp_path, distill):
    s = ref_dtfd.random_state(d=40, h=32, a=16, c=3)
    options = {"distill": distill, "n_groups": "3", "total_instance": "6"}
    model, config = _imported(tmp_path, "dtfd", s, options=options)
    assert config["host"] == "dtfd_peer" and config["host_config"]["extra"]["instances_per_group"] == 2
    with torch.no_grad():
        for x in _bags(40)[1:]:  # at least 2 patches: DTFD's MaxMinS needs one per side
            chunks = [g.tolist() for g in model._groups(x)]  # the port's deterministic split
            logits, attention = ref_dtfd.forward(s, x, chunks, distill, instance_per_group=2)
            out = model(x)
            torch.testing.assert_close(out.output, logits[0], **TOL)
            torch.testing.assert_close(out.attention, attention, **TOL)
