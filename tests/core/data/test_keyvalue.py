"""core.keyvalue.parse_key_values: KEY=VALUE command-line settings."""

from __future__ import annotations

import pytest

from core.keyvalue import parse_key_values


def test_values_are_json_when_they_parse_else_strings():
    got = parse_key_values(["a=1", "b=x", "c=true", "d=0.5", 'e="afs"', "f=[1, 2]", "a=2", "g="])
    assert got == {"a": 2, "b": "x", "c": True, "d": 0.5, "e": "afs", "f": [1, 2], "g": ""}


@pytest.mark.parametrize("item", ["novalue", "=1", " =x"])
def test_malformed_items_are_refused(item):
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_key_values([item])
