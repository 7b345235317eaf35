"""What every peer importer shares: reading a foreign checkpoint safely and checking its keys.

A peer (a MIL repository such as CLAM or TransMIL) is described by a :class:`PeerFormat`: where its
code lives (repository, file, commit the mapping follows), which Evident host it becomes, and three
functions — ``infer`` (widths read from the shapes of a few anchor keys), ``expected`` (every key
the peer's model has, with its shape, for those widths) and ``convert`` (the peer's tensors under
Evident's names). :func:`check_state` compares a state dict with ``expected`` and refuses it naming
every missing, unexpected and mis-shaped key. docs/import_model.md describes each peer's mapping.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from core.errors import EvidentError
from core.models.base import HostConfig
from core.weights import key_mismatches

__all__ = ["PeerCode", "PeerFormat", "Imported", "read_peer_checkpoint", "check_state", "anchor_dims", "MAX_LISTED"]

#: how many names of each kind an error message lists before "… and n more"
MAX_LISTED = 8


@dataclass(frozen=True)
class PeerCode:
    """The published code a mapping follows: ``repository`` (owner/name), ``file`` and ``commit``."""

    repository: str
    file: str
    commit: str


@dataclass(frozen=True)
class Imported:
    """What a peer's ``convert`` gives: the Evident host name, its config, its state dict (names
    Evident's host uses, tensors float32) and the peer keys kept out of the model (with why)."""

    host: str
    host_config: HostConfig
    state_dict: dict[str, Tensor]
    not_imported: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class PeerFormat:
    """One peer's checkpoint format.

    Attributes
    ----------
    name
        The ``--from`` name.
    code
        The peer's code this mapping follows (recorded in the imported checkpoint).
    mapping_version
        Bumped whenever the mapping changes what an import produces.
    infer
        (state dict, path, options) -> widths ``{name: int}`` from anchor keys' shapes
        (:func:`anchor_dims`) and choices from ``options`` (the ``--peer-option`` values).
    expected
        widths -> ``{peer key: shape}`` for every key the peer's model holds; keys whose name ends in
        ``"*"`` are optional prefixes (e.g. an image encoder Evident does not use).
    convert
        (state dict, widths) -> :class:`Imported`.
    """

    name: str
    code: PeerCode
    mapping_version: int
    infer: Callable[[Mapping[str, Tensor], Path, Mapping[str, str]], dict[str, int]]
    expected: Callable[[dict[str, int]], dict[str, tuple[int, ...]]]
    convert: Callable[[Mapping[str, Tensor], dict[str, int]], Imported]
    description: str = ""
    #: the ``--peer-option`` keys this peer accepts (choices its weights cannot show)
    options: tuple[str, ...] = ()


def _flatten(d: Mapping, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_peer_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """The peer checkpoint at ``path`` as ``{key: tensor}``, read with ``torch.load(weights_only=True)``.

    Accepted containers: a state dict; a dict holding one under ``"state_dict"``,
    ``"model_state_dict"``, ``"model"`` or ``"net"`` (PyTorch Lightning, common training loops);
    nested dicts of tensors are flattened with ``"."`` (DTFD saves its four modules that way). One
    prefix shared by every key (``"model."`` from Lightning, ``"module."`` from DataParallel) is
    removed. Non-tensor entries next to the weights (epoch counters, optimiser settings) are
    dropped only in a wrapper; inside the state dict they are an error.

    Raises
    ------
    EvidentError
        Missing file, unreadable or unsafe pickle (anything a checkpoint would need to run code
        for), or no tensors found.
    """
    p = Path(path)
    if not p.is_file():
        raise EvidentError(p, "checkpoint not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            blob = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise EvidentError(p, f"refused: the checkpoint holds more than weights ({first[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - torch.load on damaged bytes raises almost any type
        raise EvidentError(p, f"not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(blob, Mapping):
        raise EvidentError(p, f"not a state dict (found {type(blob).__name__})")
    for wrapper in ("state_dict", "model_state_dict", "model", "net"):
        if isinstance(blob.get(wrapper), Mapping):
            blob = blob[wrapper]
            break
    flat = _flatten(blob)
    bad = sorted(k for k, v in flat.items() if not torch.is_tensor(v))
    if bad:
        raise EvidentError(p, f"not a state dict: {_listed(bad)} are not tensors")
    if not flat:
        raise EvidentError(p, "the checkpoint holds no weights")
    for prefix in ("model.", "module."):
        if all(k.startswith(prefix) for k in flat):
            flat = {k[len(prefix):]: v for k, v in flat.items()}
    return {str(k): v for k, v in flat.items()}


def _listed(names: list[str]) -> str:
    more = len(names) - MAX_LISTED
    return ", ".join(names[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def anchor_dims(state: Mapping[str, Tensor], anchors: Mapping[str, tuple[str, int]], path, peer: str) -> dict[str, int]:
    """Widths ``{name: state[key].shape[axis]}`` for ``anchors`` ``{name: (key, axis)}``.

    Raises
    ------
    EvidentError
        An anchor key missing or with too few axes, naming it (the peer's model needs it).
    """
    missing = sorted({key for key, _ in anchors.values() if key not in state})
    if missing:
        raise EvidentError(path, f"not a {peer} checkpoint: missing {_listed(missing)}")
    dims = {}
    for name, (key, axis) in anchors.items():
        shape = tuple(state[key].shape)
        if len(shape) <= axis:
            raise EvidentError(path, f"not a {peer} checkpoint: {key} has shape {shape}, expected at least "
                                     f"{axis + 1} axes")
        dims[name] = int(shape[axis])
    return dims


def check_state(state: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]], path, peer: str) -> list[str]:
    """Compare ``state`` with ``expected``; return the keys matched by optional ``"prefix*"`` entries.

    Raises
    ------
    EvidentError
        One message naming every missing, unexpected and mis-shaped key (shape found vs expected).
    """
    optional = tuple(k[:-1] for k in expected if k.endswith("*"))
    required = {k: v for k, v in expected.items() if not k.endswith("*")}
    found = {k: tuple(v.shape) for k, v in state.items()
             if k in required or not (optional and k.startswith(optional))}
    diff = key_mismatches(required, found)
    shaped = [f"{k} {f} (expected {e})" for k, f, e in diff.misshaped]
    problems = []
    if diff.missing:
        problems.append(f"missing {_listed(diff.missing)}")
    if diff.unexpected:
        problems.append(f"unexpected {_listed(diff.unexpected)}")
    if shaped:
        problems.append(f"mis-shaped {_listed(shaped)}")
    if problems:
        raise EvidentError(path, f"does not match the {peer} model: " + "; ".join(problems))
    return sorted(k for k in state if optional and k.startswith(optional))
