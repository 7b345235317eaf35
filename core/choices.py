"""Closed option sets: each is a ``typing.Literal`` type, checked where a value enters.

A misspelt option (``shortlist_by="gates"``, ``task="survial"``) must be an error at once, never
silently mean the default. Modules declare ``Mode = Literal["a", "b"]`` and call
:func:`check_choice` in the constructor or function that first receives the value.
"""

from __future__ import annotations

import typing
from typing import Any, TypeVar

__all__ = ["check_choice", "choices"]

T = TypeVar("T")


def choices(literal: Any) -> tuple[Any, ...]:
    """The allowed values of a ``Literal[...]`` type, in declaration order."""
    values = typing.get_args(literal)
    if typing.get_origin(literal) is not typing.Literal or not values:
        raise TypeError(f"{literal!r} is not a Literal type")
    return values


def check_choice(value: T, literal: Any, what: str) -> T:
    """``value`` unchanged if it is one of ``literal``'s values, else ValueError naming ``what``.

    The message reads ``unknown <what> 'x' (use one of: a, b)``.
    """
    allowed = choices(literal)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (use one of: {', '.join(map(str, allowed))})")
    return value
