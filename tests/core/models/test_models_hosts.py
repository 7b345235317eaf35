"""Host behaviour: permutation invariance, gates, embed/head identity, attention, auxiliary losses."""

from __future__ import annotations

import pytest
import torch

from core.errors import EvidentError
from core.models.base import HostConfig, gate_log_bias
from core.models.registry import HOSTS, OWN_HOSTS, build_host

ALL = ["abmil", "clam_sb", "transmil", "dsmil", "dtfd"]
PORTS = ["clam_mb", "attention_mil", "transmil_peer", "dtfd_peer"]  # peers' heads, for imported checkpoints
ATTENTION = ["abmil", "clam_sb"]


def make(name: str, c: int = 3, d: int = 12, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = HostConfig(in_dim=d, n_outputs=c, hidden=16, attn_hidden=8, dropout=0.0, extra=tuple(sorted(extra.items())))
    return build_host(name, cfg).double().eval()


@pytest.fixture
def bag() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(23, 12, generator=g, dtype=torch.float64)  # (N, D)


def test_registry_lists_every_host_and_refuses_unknown() -> None:
    assert sorted(HOSTS) == sorted(ALL + PORTS) and list(OWN_HOSTS) == ALL
    with pytest.raises(EvidentError, match="unknown host 'nope'"):
        build_host("nope", HostConfig(in_dim=4, n_outputs=2))
    with pytest.raises(EvidentError, match="dtfd"):
        build_host("dtfd", HostConfig(in_dim=4, n_outputs=2, extra=(("distill", "bad"),)))


@pytest.mark.parametrize("name", ALL)
def test_output_shapes_and_attention_sums_to_one(name: str, bag: torch.Tensor) -> None:
    out = make(name)(bag)
    assert out.output.shape == (3,)
    assert out.attention.shape == (23,)
    assert float(out.attention.detach().sum()) == pytest.approx(1.0, abs=1e-9)
    assert bool((out.attention >= 0).all())


@pytest.mark.parametrize("name", ["abmil", "clam_sb", "dsmil", "dtfd"])
def test_permutation_invariance(name: str, bag: torch.Tensor) -> None:
    host = make(name)
    perm = torch.randperm(bag.shape[0], generator=torch.Generator().manual_seed(3))
    a, b = host(bag), host(bag[perm])
    torch.testing.assert_close(a.output, b.output)
    torch.testing.assert_close(a.attention[perm], b.attention)


def test_transmil_is_not_permutation_invariant(bag: torch.Tensor) -> None:
    """PPEG convolves the tokens on a grid laid out in sequence order (as the paper): order matters."""
    host = make("transmil")
    perm = torch.randperm(bag.shape[0], generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(host(bag).output, host(bag[perm]).output, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_gate_of_ones_leaves_output_unchanged(name: str, bag: torch.Tensor) -> None:
    host = make(name)
    a, b = host(bag), host(bag, gate=torch.ones(bag.shape[0], dtype=bag.dtype))
    torch.testing.assert_close(a.output, b.output, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ATTENTION)
def test_zero_gate_equals_removal_for_attention_hosts(name: str, bag: torch.Tensor) -> None:
    host = make(name)
    gate = torch.ones(bag.shape[0], dtype=bag.dtype)
    gate[[4, 9]] = 0.0
    keep = [i for i in range(bag.shape[0]) if i not in (4, 9)]
    torch.testing.assert_close(host(bag, gate=gate).output, host(bag[keep]).output, atol=1e-5, rtol=1e-4)


def test_dsmil_zero_gate_on_a_non_critical_patch_equals_removal(bag: torch.Tensor) -> None:
    host = make("dsmil")
    s = host(bag).instance_logits  # (N, C)
    critical = set(s.argmax(0).tolist())
    i = next(j for j in range(bag.shape[0]) if j not in critical)
    # the zeroed embedding must not become critical itself for the identity to hold
    gate = torch.ones(bag.shape[0], dtype=bag.dtype)
    gate[i] = 0.0
    gated = host(bag, gate=gate)
    assert set(gated.instance_logits.argmax(0).tolist()) == critical
    keep = [j for j in range(bag.shape[0]) if j != i]
    torch.testing.assert_close(gated.output, host(bag[keep]).output, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ATTENTION)
def test_embed_head_identity(name: str, bag: torch.Tensor) -> None:
    host = make(name)
    gate = torch.rand(bag.shape[0], generator=torch.Generator().manual_seed(5), dtype=bag.dtype)
    e, z = host.embed(bag)
    a = torch.softmax(z + gate_log_bias(gate), dim=0)
    out = host(bag, gate=gate)
    torch.testing.assert_close(host.head(a @ e), out.output)
    torch.testing.assert_close(out.embeddings, e)
    torch.testing.assert_close(out.attention_logits, z + gate_log_bias(gate))


@pytest.mark.parametrize("name", ALL)
def test_training_step_reduces_loss_and_aux_losses_backprop(name: str, bag: torch.Tensor) -> None:
    from core.train.objective import host_objective

    host = make(name).train()
    obj = host_objective("classification")
    target = torch.tensor(2)
    opt = torch.optim.SGD(host.parameters(), lr=0.05)
    torch.manual_seed(0)
    first = None
    for _ in range(15):
        opt.zero_grad()
        loss, out = obj(host, bag, None, target)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert out.shape == (3,)
    assert loss.item() < first
    aux = host.auxiliary_loss(host(bag), target)
    if name in ("clam_sb", "dsmil", "dtfd"):
        assert aux is not None and aux.ndim == 0 and torch.isfinite(aux)
    else:
        assert aux is None


def test_transmil_full_and_nystrom_attention_agree_roughly() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(300, 12, generator=g, dtype=torch.float64)
    full = make("transmil", attention="full")
    nys = make("transmil", attention="nystrom", landmarks=8)
    nys.load_state_dict(full.state_dict())
    with torch.no_grad():
        a, b = full(x), nys(x)
    assert b.attention.shape == (300,)
    assert float(b.attention.sum()) == pytest.approx(1.0, abs=1e-6)
    # Nyström approximates softmax attention: same weights give close logits
    assert float((a.output - b.output).abs().max()) < 0.5


def test_transmil_rollout_matches_dense_computation() -> None:
    """Rollout from the factorised maps equals the explicit matrix product on a small bag."""
    import math

    host = make("transmil", attention="full")
    x = torch.randn(7, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    maps = []
    for layer in (host.layer1, host.layer2):
        orig = layer.attn.forward

        def spy(t, mode, orig=orig):
            o, amap = orig(t, mode)
            maps.append(amap)
            return o, amap

        layer.attn.forward = spy
    out = host(x)
    t = 1 + math.ceil(math.sqrt(7)) ** 2
    dense = []
    for amap in maps:
        a = torch.stack([amap.row(i) for i in range(t)])  # (T, T)
        a_hat = (a + torch.eye(t, dtype=a.dtype)) / 2
        dense.append(a_hat / a_hat.sum(1, keepdim=True))
    r = (dense[1] @ dense[0])[0, 1:]  # (side²,)
    src = torch.cat([torch.arange(7), torch.arange(2)])  # 9 grid cells, first 2 repeated
    expect = torch.zeros(7, dtype=r.dtype).index_add_(0, src, r)
    torch.testing.assert_close(out.attention, expect / expect.sum())


def test_dtfd_eval_split_is_deterministic_and_training_split_random(bag: torch.Tensor) -> None:
    host = make("dtfd", n_groups=4)
    torch.testing.assert_close(host(bag).output, host(bag).output)
    host.train()
    torch.manual_seed(0)
    a = host(bag).output
    torch.manual_seed(1)
    b = host(bag).output
    assert not torch.allclose(a, b)


def test_bag_smaller_than_groups_and_single_patch(bag: torch.Tensor) -> None:
    for name in ALL:
        out = make(name)(bag[:1])
        assert out.output.shape == (3,) and float(out.attention.detach().sum()) == pytest.approx(1.0)
