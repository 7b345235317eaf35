"""Typed per-host options: known keys become fields, unknown keys and wrong types are errors."""

from __future__ import annotations

import pytest

from core.errors import EvidentError
from core.models.base import HostConfig
from core.models.host_options import CLAMOptions, DTFDOptions, TransMILOptions, parse_host_options
from core.models.registry import build_host


def _cfg(**extra) -> HostConfig:
    return HostConfig(in_dim=6, n_outputs=2, hidden=8, attn_hidden=4, extra=tuple(sorted(extra.items())))


def test_options_become_typed_fields_with_defaults():
    host = build_host("transmil", _cfg(heads=2, attention="full"))
    assert host.options == TransMILOptions(attention="full", heads=2)
    assert host.mode == "full"
    assert build_host("dtfd", _cfg()).options == DTFDOptions()
    clam = build_host("clam_sb", _cfg(bag_weight=0.5))
    assert clam.options == CLAMOptions(bag_weight=0.5) and clam.bag_weight == 0.5 and clam.subtyping is False


@pytest.mark.parametrize("host, extra, message", [
    ("transmil", {"head": 4}, "host 'transmil' has no option 'head' (its options: attention, full_max_tokens, heads, "),
    ("abmil", {"heads": 4}, "host 'abmil' has no option 'heads' (its options: none)"),
    ("dtfd", {"distill": "max"}, "distill='max' for host 'dtfd': use one of maxmins, maxs, afs"),
    ("dsmil", {"average": 1}, "average=1 for host 'dsmil': expected bool"),
    ("clam_sb", {"k_sample": 2.5}, "k_sample=2.5 for host 'clam_sb': expected int"),
    ("clam_sb", {"bag_weight": 0.0}, "bag_weight must be in (0, 1]"),
])
def test_unknown_or_badly_typed_options_are_errors(host, extra, message):
    with pytest.raises(EvidentError) as err:
        build_host(host, _cfg(**extra))
    assert message in str(err.value)


def test_float_fields_accept_integers_and_optional_fields_accept_none():
    assert parse_host_options(CLAMOptions, (("bag_weight", 1),), "clam_sb").bag_weight == 1.0
    assert parse_host_options(TransMILOptions, (("landmarks", None),), "transmil").landmarks is None
