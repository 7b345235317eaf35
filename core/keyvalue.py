"""``KEY=VALUE`` command-line settings (e.g. ``--gce-option coverage_loss=contrastive``)."""

from __future__ import annotations

import json
from collections.abc import Iterable

__all__ = ["parse_key_values"]


def parse_key_values(items: Iterable[str]) -> dict:
    """``["a=1", "b=x", "c=true"]`` → ``{"a": 1, "b": "x", "c": True}``.

    Each value is read as JSON when it parses (numbers, booleans, quoted strings, lists), else kept as
    the raw string. Later keys override earlier ones.

    Raises
    ------
    ValueError
        An item without ``=`` or with an empty key.
    """
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
