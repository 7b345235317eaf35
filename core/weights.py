"""Model weights from a local file or the local Hugging Face cache, checked key by key.

* :func:`read_state_dict` reads ``.safetensors`` (safetensors) or ``.pth``/``.pt``/``.bin``
  (``torch.load(..., weights_only=True)``: a weights file never runs code), unwrapping the usual
  containers (``{"state_dict": ...}``, ``{"model": ...}``) and a ``module.`` prefix (DataParallel).
* :func:`load_checked` loads it into a model and refuses, naming the file, any missing or unexpected
  key or any shape mismatch (strict loading with a readable message).
* :func:`cached_hub_file` finds a model file in the local Hugging Face cache (``HF_HOME``, default
  ``~/.cache/huggingface``) without touching the network; it downloads only when asked to
  (``allow_download=True``, ``evident extract --allow-download``).

See docs/bring_your_own.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from core.errors import EvidentError

__all__ = ["WEIGHT_SUFFIXES", "KeyMismatch", "read_state_dict", "key_mismatches", "load_checked", "cached_hub_file",
           "hub_cache_dir"]

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
_CONTAINERS = ("state_dict", "model", "model_state_dict", "module")
_LISTED = 6  # keys named in an error message


def read_state_dict(path: str | os.PathLike, prefix: str = ""):
    """Read a state dict (name -> tensor) from a weights file.

    Parameters
    ----------
    path
        ``.safetensors``, ``.pth``, ``.pt`` or ``.bin``.
    prefix
        Keep only the keys starting with this prefix, with the prefix removed (e.g. ``"visual."``
        for the vision tower of a CLIP/CoCa checkpoint); ``""`` keeps all.

    Raises
    ------
    EvidentError
        Missing file, unknown suffix, unreadable file, no tensors (under ``prefix``).
    """
    import torch  # local: torch only when used

    p = Path(path)
    if not p.is_file():
        raise EvidentError(p, "weights file not found")
    suffix = p.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise EvidentError(p, f"weights must be one of {', '.join(WEIGHT_SUFFIXES)} files")
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file  # local: safetensors only when used

            obj = load_file(str(p), device="cpu")
        else:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader failure is a problem with this file
        raise EvidentError(p, f"not a readable weights file ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    for key in _CONTAINERS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise EvidentError(p, f"holds a {type(obj).__name__}, not a state dict of tensors")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    if not sd:
        raise EvidentError(p, "holds no tensors" + (f" under {prefix!r}" if prefix else ""))
    return sd


def _names(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _LISTED else shown


class KeyMismatch(NamedTuple):
    """How a state dict's keys and shapes differ from the expected ones: ``missing`` and
    ``unexpected`` keys (sorted), and ``misshaped`` ``(key, shape found, shape expected)`` (sorted)."""

    missing: list[str]
    unexpected: list[str]
    misshaped: list[tuple[str, tuple, tuple]]


def key_mismatches(expected: Mapping[str, tuple], found: Mapping[str, tuple]) -> KeyMismatch:
    """Compare ``found`` ``{key: shape}`` with ``expected`` ``{key: shape}`` (shapes as tuples)."""
    return KeyMismatch(sorted(set(expected) - set(found)), sorted(set(found) - set(expected)),
                       sorted((k, tuple(found[k]), tuple(expected[k])) for k in set(expected) & set(found)
                              if tuple(found[k]) != tuple(expected[k])))


def load_checked(model, state_dict: Mapping, path: str | os.PathLike, what: str,
                 ignore: Sequence[str] = (), assign: bool = False) -> None:
    """Load ``state_dict`` into ``model`` strictly.

    Parameters
    ----------
    model
        A ``torch.nn.Module``.
    state_dict
        Name -> tensor, e.g. from :func:`read_state_dict`.
    path
        The weights file (named in errors).
    what
        What the model is, for the message (``"timm:vit_small_patch16_224"``).
    ignore
        Key prefixes of the file that are expected to be unused (e.g. a CLIP's text tower).
    assign
        Make the file's tensors (cast to the model's dtypes) the model's parameters instead of
        copying into them: for a model built on the meta device, no random initialisation is needed.

    Raises
    ------
    EvidentError
        Missing keys, unexpected keys or shape mismatches, each listed (naming ``path``).
    """
    own = model.state_dict()
    given = {k: v for k, v in state_dict.items() if not any(k.startswith(i) for i in ignore)}
    diff = key_mismatches({k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in given.items()})
    shapes = [f"{k} {f} in the file, {e} in the model" for k, f, e in diff.misshaped]
    problems = []
    if diff.missing:
        problems.append(f"missing keys: {_names(diff.missing)}")
    if diff.unexpected:
        problems.append(f"unexpected keys: {_names(diff.unexpected)}")
    if shapes:
        problems.append(f"shape mismatch: {_names(shapes)}")
    if problems:
        raise EvidentError(path, f"weights do not fit {what}; " + "; ".join(problems))
    if assign:
        given = {k: v.to(own[k].dtype) for k, v in given.items()}
    model.load_state_dict(dict(given), strict=True, assign=assign)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now: ``$HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub`` (read at each call, not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                     os.path.expanduser("~/.cache"), "huggingface")
    return Path(home) / "hub"


def cached_hub_file(repo_id: str, filenames: Sequence[str], *, allow_download: bool = False) -> Path | None:
    """The first of ``filenames`` of the Hugging Face repo ``repo_id`` in the local cache.

    Without ``allow_download`` the network is never used; with it, a file missing from the cache is
    downloaded (the repo may be gated: log in with ``huggingface-cli login`` first).

    Returns
    -------
    Path or None
        The cached file, or None when none of the files is cached (and no download was asked for).

    Raises
    ------
    EvidentError
        ``allow_download`` and the download failed (no network, no access).
    """
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache  # local: only when used
    except ImportError:
        return None
    cache = hub_cache_dir()
    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    if not allow_download:
        return None
    errors = []
    for name in filenames:
        try:
            return Path(hf_hub_download(repo_id, name, cache_dir=cache))
        except Exception as exc:  # network, access or missing file: try the next name
            errors.append(f"{name}: {type(exc).__name__}")
    raise EvidentError(None, f"could not download {repo_id} from the Hugging Face hub ({'; '.join(errors)})")
