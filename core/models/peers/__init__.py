"""Models trained elsewhere: map a peer repository's checkpoint onto an Evident host.

``PEERS`` names every supported format (one module each); :func:`import_peer` reads a checkpoint
(``torch.load(weights_only=True)``: a checkpoint never runs code), checks every key and shape,
converts it, builds the host and loads the weights strictly, and returns the model (eval mode) with
the config ``core.models.checkpoint.save_checkpoint`` writes — including the provenance (peer,
source file SHA-256, mapping version, the peer code's repository/file/commit). docs/import_model.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from core.errors import EvidentError
from core.hashing import file_sha256
from core.models.input_norm import InputNorm
from core.models.peers import abmil, clam, dsmil, dtfd, transmil, xmil
from core.models.peers.format import PeerFormat, check_state, read_peer_checkpoint
from core.models.registry import build_host

__all__ = ["PEERS", "import_peer"]

#: ``--from`` name -> format, in the order the CLI lists them
PEERS: dict[str, PeerFormat] = {f.name: f for f in (clam.FORMAT_SB, clam.FORMAT_MB, transmil.FORMAT, dsmil.FORMAT,
                                                    dtfd.FORMAT, abmil.FORMAT, xmil.FORMAT)}


def _norm_buffers(model: nn.Module) -> set[str]:
    names = {n for n, m in model.named_modules() if isinstance(m, InputNorm)}
    return {f"{n}.{b}" for n in names for b in ("mean", "std")}


def _matching_peer(state, path, exclude: str) -> str | None:
    """The first other peer whose format ``state`` fits exactly (a hint for a wrong ``--from``)."""
    for name, fmt in PEERS.items():
        if name == exclude:
            continue
        try:
            check_state(state, fmt.expected(fmt.infer(state, path, {})), path, name)
        except EvidentError:
            continue
        return name
    return None


def import_peer(peer: str, path: str | os.PathLike, options: Mapping[str, str] | None = None,
                classes: tuple[str, ...] | None = None) -> tuple[nn.Module, dict]:
    """Import the ``peer`` checkpoint at ``path``.

    Parameters
    ----------
    options
        Peer-specific choices the keys cannot show (``PeerFormat.options``: xmil ``attention``; dtfd
        ``distill``, ``n_groups``, ``total_instance``); others are refused.
    classes
        Names of the C outputs (output c is ``classes[c]``); ``None`` leaves them as indices.

    Returns
    -------
    The host (eval mode, float32, on the CPU; input normalisation the identity) and its checkpoint
    config: ``host``, ``host_config``, ``task`` ("classification"), ``classes`` (when given) and
    ``imported`` (the provenance).

    Raises
    ------
    EvidentError
        Unknown peer or option, unreadable/unsafe file, keys missing/unexpected/mis-shaped (all
        named), or class names that do not match the outputs.
    """
    p = Path(path)
    if peer not in PEERS:
        raise EvidentError(None, f"unknown peer {peer!r} (use one of: {', '.join(PEERS)})")
    fmt = PEERS[peer]
    options = dict(options or {})
    allowed = set(fmt.options)
    unknown = sorted(set(options) - allowed)
    if unknown:
        have = ", ".join(sorted(allowed)) or "none"
        raise EvidentError(None, f"--peer-option {unknown[0]} is not an option of {peer} (its options: {have})")
    state = read_peer_checkpoint(p)
    try:
        dims = fmt.infer(state, p, options)
        left_out = check_state(state, fmt.expected(dims), p, peer)
    except EvidentError as exc:
        other = _matching_peer(state, p, exclude=peer)
        if other is None or exc.path is None:
            raise
        raise EvidentError(p, f"{exc.message} (the keys match --from {other})") from None
    imp = fmt.convert(state, dims)
    model = build_host(imp.host, imp.host_config)
    own = model.state_dict()
    untouched = set(own) - set(imp.state_dict)
    if set(imp.state_dict) - set(own) or untouched - _norm_buffers(model):  # a mapping bug, not bad input
        raise RuntimeError(f"{peer} mapping does not cover host {imp.host}: {sorted(set(imp.state_dict) ^ set(own))}")
    merged = {k: own[k] for k in untouched} | {k: v.detach().to(torch.float32) for k, v in imp.state_dict.items()}
    model.load_state_dict(merged, strict=True)
    n_out = imp.host_config.n_outputs
    if classes is not None and len(classes) != n_out:
        raise EvidentError(None, f"--classes names {len(classes)} classes, the {peer} model has {n_out} outputs")
    config = {"host": imp.host, "host_config": imp.host_config.to_dict(), "task": imp.host_config.task,
              "imported": {"peer": peer, "source": p.name, "source_sha256": file_sha256(p),
                           "mapping_version": fmt.mapping_version,
                           "peer_code": {"repository": fmt.code.repository, "file": fmt.code.file, "commit": fmt.code.commit},
                           "options": options, "not_imported": list(left_out), "note": imp.note}}
    if classes is not None:
        config["classes"] = list(classes)
    return model.eval(), config
