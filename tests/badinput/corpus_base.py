"""Shared pieces of the bad-input corpus (:mod:`corpus`): fixtures, the case registry, file builders."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Fixtures", "Run", "CASES", "case", "huge_bag", "huge_tiff"]


LONG = "x" * 300  # a file name over the 255-byte limit


@dataclass
class Fixtures:
    """Real inputs the cases damage (read-only: cases copy what they change)."""

    slide: Path  # the CMU-1 region (.svs)
    bags: list[Path]  # Musk1 bags, TRIDENT HDF5 (D = 166)
    manifest: Path  # their manifest (labels "0"/"1", features_path relative)
    ckpt: Path  # ABMIL, D = 166, classes ("0", "1")
    gce: Path  # a GCE model over the same host, for recover
    musk_csv: Path  # the Musk1 MIL CSV


@dataclass
class Run:
    """One command on a damaged input: ``argv`` for ``evident``; ``culprit`` must be named."""

    argv: list[str]
    culprit: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    #: For inputs only the viewer reads: ``"annotations"`` calls the viewer's loader
    #: (``core.review.loading.read_annotation_layers``) on ``culprit`` instead of the CLI.
    viewer_loader: str | None = None


CASES: dict[str, Callable[[Path, Fixtures], Run]] = {}


def case(name: str):
    def deco(fn):
        assert name not in CASES, name
        CASES[name] = fn
        return fn
    return deco


def _copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def huge_bag(path: Path, n: int = 200_000_000, d: int = 1024) -> Path:
    """A ~2 KB HDF5 bag declaring (n, d) float32 features and (n, 2) coords (chunked, nothing stored)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("features", shape=(n, d), dtype="f4", chunks=(1, min(d, 1024)))
        f.create_dataset("coords", shape=(n, 2), dtype="i8", chunks=(1, 2))
    return path


def huge_tiff(path: Path, side: int = 200_000, tile: int = 2048) -> Path:
    """A tiled TIFF header declaring ``side``² px whose tiles are all the same 16 stored bytes."""
    nt = ((side + tile - 1) // tile) ** 2
    entries = []

    def e(tag, typ, cnt, val):
        entries.append(struct.pack("<HHII", tag, typ, cnt, val))

    arr = 8 + 2 + 12 * 12 + 4 + 16
    data = arr + 8 * nt
    e(256, 4, 1, side), e(257, 4, 1, side), e(258, 3, 1, 8), e(259, 3, 1, 1), e(262, 3, 1, 1), e(277, 3, 1, 1)
    e(284, 3, 1, 1), e(322, 4, 1, tile), e(323, 4, 1, tile), e(324, 4, nt, arr), e(325, 4, nt, arr + 4 * nt)
    e(339, 3, 1, 1)
    head = b"II*\x00" + struct.pack("<IH", 8, len(entries)) + b"".join(sorted(entries)) + b"\0" * 4 + b"\0" * 16
    path.write_bytes(head + struct.pack(f"<{nt}I", *([data] * nt)) + struct.pack(f"<{nt}I", *([16] * nt)) + b"\0" * 16)
    return path


def _h5(path: Path, **datasets) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            if isinstance(v, dict):
                f.create_group(k)
            else:
                f.create_dataset(k, data=v)
    return path


def _bag_arrays(fx: Fixtures):
    from core.data.bags import read_bag

    b = read_bag(fx.bags[0])
    return b.features, b.coords


def _info(p: Path) -> Run:
    return Run(["info", str(p)], p)


def _explain(bag: Path, fx: Fixtures, d: Path) -> Run:
    return Run(["explain", "--model", str(fx.ckpt), "--features", str(bag), "--out", str(d / "out"),
                "--methods", "attention", "--device", "cpu"], bag)


def _set(a: np.ndarray, v) -> np.ndarray:
    a = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else float)
    a[len(a) // 2, 0] = v
    return a


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _torch_save(p: Path, obj) -> Path:
    import torch

    conv = lambda v: torch.as_tensor(v) if isinstance(v, np.ndarray) else v  # noqa: E731
    torch.save({k: conv(v) for k, v in obj.items()} if isinstance(obj, dict) else conv(obj), p)
    return p


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_pickle(p: Path, marker: Path) -> Path:
    import torch

    torch.save({"features": _Evil(str(marker))}, p)
    return p


def _h5_huge_coords(p: Path, feats: np.ndarray) -> Path:
    import h5py

    with h5py.File(p, "w") as f:
        f.create_dataset("features", data=feats)
        f.create_dataset("coords", shape=(10**11, 2), dtype="i8", chunks=(1, 2))
    return p


def _h5_attrs(p: Path, feats, coords, **attrs) -> Path:
    import h5py

    with h5py.File(p, "w") as f:
        f.create_dataset("features", data=feats)
        c = f.create_dataset("coords", data=coords)
        c.attrs.update(attrs)
    return p


def _audit(manifest: Path, fx: Fixtures, d: Path, culprit: Path | None = None, *extra: str) -> Run:
    return Run(["audit", "--manifest", str(manifest), "--features", str(fx.manifest.parent), "--model", str(fx.ckpt),
                "--out", str(d / "out"), "--methods", "attention", "--minimal-k", "", *extra], culprit or manifest)


def _rows(fx: Fixtures, n: int = 4) -> list[list[str]]:
    import csv

    rows = list(csv.reader(fx.manifest.read_text(encoding="utf-8").splitlines()))
    head, body = rows[0], rows[1:n + 1]
    col = head.index("features_path")
    for r in body:
        r[col] = str(fx.manifest.parent / r[col])
    return [head, *body]


def _csv(p: Path, rows) -> Path:
    p.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return p


def _col(rows, name):
    return rows[0].index(name)


def _setcell(rows, i, name, value):
    rows[i][_col(rows, name)] = value
    return rows


def _text(p: Path, lines: list[str]) -> Path:
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p
