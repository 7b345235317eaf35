"""The encoder registry: spec strings to encoders, one clear error for an unknown or malformed spec."""

from __future__ import annotations

import pytest

from core.errors import EvidentError
from core.extract.encoders import ENCODER_SPECS, build_encoder
from core.extract.encoders.registry import ENCODERS


def test_specs_list_every_registered_kind():
    named = ("uni_v1", "uni_v2", "conch_v1", "virchow2", "hoptimus0", "gigapath")
    assert set(ENCODERS) == {"builtin", "torchscript", "timm", *named}
    assert ("builtin", "torchscript:PATH", "timm:ARCH", *named) == ENCODER_SPECS
    assert build_encoder("builtin").name == build_encoder(" builtin ").name


@pytest.mark.parametrize("spec, message", [
    ("resnet50", "unknown encoder 'resnet50' (use one of: builtin, torchscript:PATH, timm:ARCH, uni_v1,"),
    ("timm:", "needs an architecture"),
    ("timm:no_such_arch_x", "timm has no architecture 'no_such_arch_x'"),
    ("uni_v1:x", "uni_v1 takes no argument"),
    ("builtin:x", "builtin takes no argument"),
    ("torchscript:", "needs a file path"),
])
def test_bad_specs_are_one_clear_error(spec, message):
    with pytest.raises(EvidentError) as err:
        build_encoder(spec)
    assert message in str(err.value)
