"""Imported peer models for the explain/audit/viewer tests: a random peer checkpoint of each supported
format written to disk and imported with ``evident import-model`` (tests/testkit/peers)."""

from __future__ import annotations

from pathlib import Path

import torch

from core.cli import main
from testkit.peers import abmil, clam, dsmil, dtfd, transmil, xmil

#: ``--from`` name (plus a label for the xMIL TransMIL variant) -> random peer state dict for D
#: features and 2 classes (ABMIL: its one sigmoid output becomes 2 logits)
STATES = {
    "abmil": lambda d: abmil.random_state(d=d, m=16, l=8),
    "clam_sb": lambda d: clam.random_state(d=d, h=16, a=8, c=2, multi=False),
    "clam_mb": lambda d: clam.random_state(d=d, h=16, a=8, c=2, multi=True),
    "transmil": lambda d: transmil.random_state(d=d, h=16, c=2),
    "dsmil": lambda d: dsmil.random_state(d=d, c=2, q=8),
    "dtfd": lambda d: dtfd.random_state(d=d, h=16, a=8, c=2),
    "xmil": lambda d: xmil.random_state(d=d, h=16, a=8, c=2),
    "xmil_transmil": lambda d: transmil.random_state(d=d, h=16, c=2, layers=("translayers.0.", "translayers.1.")),
}


def import_random(kind: str, d: int, folder: Path, classes: str = "0,1") -> Path:
    """Write a random ``kind`` checkpoint for ``d`` features, import it; return the Evident checkpoint."""
    src, out = folder / f"{kind}.pth", folder / f"{kind}.evident.pt"
    torch.save(STATES[kind](d), src)
    peer = "xmil" if kind.startswith("xmil") else kind
    assert main(["import-model", "--from", peer, str(src), "--out", str(out), "--classes", classes]) == 0
    return out
