"""Morphology prompt sets per disease family (``resources/prompts/<family>.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import EvidentError

__all__ = ["PROMPTS_DIR", "load_prompt_set", "prompt_families"]

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "resources" / "prompts"


def prompt_families() -> list[str]:
    """Names of the shipped families (sorted)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.json"))


def load_prompt_set(family: str) -> tuple[str, ...]:
    """The M morphology prompts of ``family`` (e.g. ``"breast"``).

    Raises
    ------
    EvidentError
        Unknown family, or a file that is not a prompt set.
    """
    path = PROMPTS_DIR / f"{family}.json"
    if not path.is_file():
        raise EvidentError(path, f"no prompt set for {family!r}; known: {', '.join(prompt_families())}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        prompts = tuple(str(p) for p in doc["prompts"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidentError(path, f"not a prompt set ({exc})") from None
    if not prompts or len(set(prompts)) != len(prompts):
        raise EvidentError(path, "prompts must be non-empty and distinct")
    return prompts
