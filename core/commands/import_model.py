"""``evident import-model``: turn a checkpoint trained in another MIL repository into an Evident one.

``evident import-model --from PEER CHECKPOINT --out model.pt`` reads the peer's state dict
(``weights_only``), checks every key and shape against the peer's published model, maps the weights
onto the matching Evident host (or the port of the peer's head) and writes an ordinary Evident
checkpoint with the provenance in its config. Nothing is written when anything does not match.
Mappings: :mod:`core.models.peers`; docs/import_model.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import EvidentError

NAME = "import-model"
HELP = "import a model trained in CLAM, TransMIL, DSMIL, DTFD-MIL, ABMIL or xMIL (its checkpoint) as an Evident checkpoint"
PEER_NAMES = ("clam_sb", "clam_mb", "transmil", "dsmil", "dtfd", "abmil", "xmil")
DESCRIPTION = (
    "Map a checkpoint trained elsewhere onto Evident's host for that model and write an Evident checkpoint "
    "(usable by explain, audit, review and the viewer). Peers: clam_sb, clam_mb (mahmoodlab/CLAM), transmil "
    "(szc19990412/TransMIL), dsmil (binli123/dsmil-wsi), dtfd (hrzhang1123/DTFD-MIL), abmil (AMLab-Amsterdam/AttentionDeepMIL, gated), "
    "xmil (bifold-pathomics/xMIL attention MIL or TransMIL). The checkpoint is read with weights_only "
    "(it never runs code); a missing, unexpected or mis-shaped key is an error naming it, and nothing is written."
)


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="the peer's checkpoint (.pt/.pth state dict)")
    p.add_argument("--from", dest="peer", required=True, choices=PEER_NAMES, help="the repository the model was trained in")
    p.add_argument("--out", required=True, metavar="MODEL.pt", help="the Evident checkpoint to write")
    p.add_argument("--classes", metavar="A,B,...", help="names of the outputs in order (default: 0, 1, ...)")
    p.add_argument("--peer-option", action="append", default=[], type=_option, metavar="KEY=VALUE",
                   help="a choice the weights cannot show (xmil: attention=nystrom|dot_prod; dtfd: distill=AFS|MaxMinS|MaxS, "
                        "n_groups=4, total_instance=4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    from core.models.checkpoint import save_checkpoint  # local: evident --help loads this module; torch only when run
    from core.models.peers import import_peer  # local: evident --help loads this module; torch only when run

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise EvidentError(out, "already exists; pass --overwrite to replace it")
    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
    if classes is not None and (not all(classes) or len(set(classes)) != len(classes)):
        raise EvidentError(None, f"--classes must name distinct, non-empty classes, got {args.classes!r}")
    model, config = import_peer(args.peer, args.checkpoint, dict(args.peer_option), classes)
    save_checkpoint(out, model, config)
    hc = config["host_config"]
    n_params = sum(t.numel() for t in model.parameters())
    print(f"{args.peer} -> host {config['host']}: {hc['in_dim']} features in, {hc['n_outputs']} outputs, "
          f"{n_params} parameters")
    left = config["imported"]["not_imported"]
    if left:
        print(f"not imported (not part of the MIL head): {len(left)} keys, e.g. {left[0]}")
    print(f"wrote {out}")
    return 0
