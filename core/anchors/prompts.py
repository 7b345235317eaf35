"""Morphology prompt sets per disease family (``resources/prompts/<family>.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.errors import EvidentError

__all__ = ["PROMPTS_DIR", "load_prompt_file", "load_prompt_set", "prompt_families", "resolve_prompt_file"]

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
    return load_prompt_file(path)


def resolve_prompt_file(name: str | os.PathLike) -> Path:
    """A prompt-set file from a path, or from a shipped family name (``"breast"``).

    Raises
    ------
    EvidentError
        Neither an existing file nor a shipped family.
    """
    p = Path(name)
    if p.is_file():
        return p
    if str(name) in prompt_families():
        return PROMPTS_DIR / f"{name}.json"
    raise EvidentError(p, f"prompt set not found (a JSON file {{\"prompts\": [...]}} or one of: "
                          f"{', '.join(prompt_families())})")


def load_prompt_file(path: str | os.PathLike) -> tuple[str, ...]:
    """The prompts of a prompt-set file ``{"prompts": [M distinct strings], ...}``.

    Raises
    ------
    EvidentError
        Missing file, not JSON, no ``prompts`` list, empty or duplicate prompts (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise EvidentError(path, "prompt set not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc["prompts"], list):
            raise TypeError("'prompts' is not a list")
        prompts = tuple(str(p) for p in doc["prompts"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidentError(path, f"not a prompt set ({exc})") from None
    if not prompts or len(set(prompts)) != len(prompts) or not all(p.strip() for p in prompts):
        raise EvidentError(path, "prompts must be non-empty and distinct")
    return prompts
