"""argparse value types shared by the subcommands: a bad value becomes argparse's one-line usage error."""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "nonneg_int", "nonneg_float", "open_fraction"]


def positive_int(text: str) -> int:
    """A whole number > 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def nonneg_int(text: str) -> int:
    """A whole number ≥ 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {v}")
    return v


def nonneg_float(text: str) -> float:
    """A finite or infinite number ≥ 0 (NaN refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text}")
    return v


def open_fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {v}")
    return v
