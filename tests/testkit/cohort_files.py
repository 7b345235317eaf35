"""A small cohort on disk for the per-slide commands: a GCE checkpoint (ABMIL host, 3 classes) and
feature bags ``s0.h5`` .. of 20+ patches, for ``evident explain`` / ``recover`` in scheduler tests."""

from __future__ import annotations

from pathlib import Path

from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.models.checkpoint import save_checkpoint
from testkit.explain import abmil, bag, gce


def gce_cohort(folder: Path, n: int = 4) -> tuple[Path, list[Path]]:
    """``(checkpoint, [bag files])`` written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    model = gce(abmil())
    ckpt = folder / "m.pt"
    save_checkpoint(ckpt, model, {**model.to_config(), "task": "classification", "classes": ["a", "b", "c"]})
    files = []
    for i in range(n):
        x, c = bag(20 + i, seed=i)
        f = folder / f"s{i}.h5"
        write_bag(f, FeatureBag(x, c, 256, f"s{i}"))
        files.append(f)
    return ckpt, files


def output_bytes(folder: Path, pattern: str = "*.evidence.h5") -> dict[str, bytes]:
    """File name -> bytes of the outputs in ``folder`` (the ledger under ``.evident`` is not an output)."""
    return {p.name: p.read_bytes() for p in sorted(folder.glob(pattern))}
