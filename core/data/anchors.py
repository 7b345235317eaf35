"""Anchor banks: named, frozen embeddings (text prompts or exemplars) a GCE model explains with.

A bank file is HDF5 (``.h5``/``.hdf5``) or NumPy ``.npz`` holding ``prompts`` (M strings),
``embeddings`` (M, d_a) float32 and ``encoder`` (the encoder's name: an HDF5 root attribute or a
0-d string array in the ``.npz``; HDF5 files with an ``encoder`` dataset are read too). A bank
without an encoder name reads as ``encoder = "unknown"``.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.data.hdf5_read import check_npz_sizes, h5_file, read_dataset
from core.errors import EvidentError

__all__ = ["AnchorBank", "read_anchor_bank", "write_anchor_bank"]

_H5 = (".h5", ".hdf5")


@dataclass(frozen=True, eq=False)
class AnchorBank:
    """M anchors: prompts (names) and their embeddings.

    Attributes
    ----------
    prompts
        M distinct, non-empty strings.
    embeddings
        (M, d_a) float32, finite, read-only.
    encoder
        Name of the encoder that produced the embeddings.

    Raises
    ------
    EvidentError
        (path ``None``) on construction from invalid values.
    """

    prompts: tuple[str, ...]
    embeddings: np.ndarray
    encoder: str

    def __post_init__(self) -> None:
        prompts = tuple(str(p) for p in self.prompts)
        emb = np.array(self.embeddings, dtype=np.float32, order="C", copy=True)
        _check(prompts, emb, None)
        emb.flags.writeable = False
        object.__setattr__(self, "prompts", prompts)
        object.__setattr__(self, "embeddings", emb)
        object.__setattr__(self, "encoder", str(self.encoder))

    @property
    def size(self) -> int:
        """M, the number of anchors."""
        return len(self.prompts)

    @property
    def dim(self) -> int:
        """d_a, the embedding width."""
        return int(self.embeddings.shape[1])

    def digest(self) -> str:
        """sha256 (hex) over the prompts and the embeddings; equal for equal banks across save/load.

        Hashes, in order: M and d_a (little-endian uint64), each prompt as its UTF-8 length
        (uint64) and bytes, then the embeddings as little-endian float32 in row-major order. The
        encoder name is not part of the digest.
        """
        h = hashlib.sha256()
        h.update(struct.pack("<QQ", self.size, self.dim))
        for p in self.prompts:
            b = p.encode("utf-8")
            h.update(struct.pack("<Q", len(b)))
            h.update(b)
        h.update(np.ascontiguousarray(self.embeddings, dtype="<f4").tobytes())
        return h.hexdigest()

    def add(self, prompt: str, embedding: np.ndarray) -> AnchorBank:
        """Return a new bank with one more anchor (``embedding`` (d_a,) float) at the end."""
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if e.shape[0] != self.dim:
            raise EvidentError(None, f"anchor {prompt!r} has width {e.shape[0]}, the bank's anchors have {self.dim}")
        return AnchorBank(self.prompts + (str(prompt),), np.vstack([self.embeddings, e[None]]), self.encoder)


def read_anchor_bank(path: str | os.PathLike) -> AnchorBank:
    """Read and validate an anchor bank (``.h5``/``.hdf5`` or ``.npz``).

    Raises
    ------
    EvidentError
        Missing file, unknown format, missing ``prompts``/``embeddings``, M = 0, len(prompts) != M,
        embeddings not (M, d_a) or not finite, empty or duplicate prompts.
    """
    p = Path(path)
    if not p.is_file():
        raise EvidentError(p, "anchor bank not found")
    if p.suffix.lower() == ".npz":
        prompts, emb, encoder = _read_npz(p)
    elif p.suffix.lower() in _H5:
        prompts, emb, encoder = _read_h5(p)
    else:
        raise EvidentError(p, "anchor bank must be .h5, .hdf5 or .npz")
    if emb.dtype.kind not in "biuf":
        raise EvidentError(p, f"embeddings are not numeric (dtype {emb.dtype})")
    emb = emb.astype(np.float32)
    _check(prompts, emb, p)
    return AnchorBank(prompts, emb, encoder or "unknown")


def write_anchor_bank(path: str | os.PathLike, bank: AnchorBank) -> None:
    """Write ``bank`` atomically; the format follows the suffix (``.npz``, else HDF5)."""
    p = Path(path)
    with atomic_path(p) as tmp:
        if p.suffix.lower() == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, prompts=np.array(bank.prompts, dtype=str), embeddings=bank.embeddings,
                         encoder=np.array(bank.encoder, dtype=str))
        else:
            import h5py  # local: h5py only when used

            with h5py.File(tmp, "w") as f:
                f.create_dataset("prompts", data=np.array(bank.prompts, dtype=object), dtype=h5py.string_dtype())
                f.create_dataset("embeddings", data=bank.embeddings)
                f.attrs["encoder"] = bank.encoder


def _check(prompts: tuple[str, ...], emb: np.ndarray, path: Path | None) -> None:
    if emb.ndim != 2:
        raise EvidentError(path, f"embeddings must be (M, d_a), found shape {tuple(emb.shape)}")
    if emb.shape[0] == 0 or len(prompts) == 0:
        raise EvidentError(path, "empty anchor bank (M = 0)")
    if emb.shape[1] == 0:
        raise EvidentError(path, "embeddings have width 0")
    if len(prompts) != emb.shape[0]:
        raise EvidentError(path, f"{len(prompts)} prompts but {emb.shape[0]} embeddings")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise EvidentError(path, f"embedding of prompt {prompts[int(np.flatnonzero(bad)[0])]!r} has NaN or Inf")
    seen: set[str] = set()
    for i, pr in enumerate(prompts):
        if not pr.strip():
            raise EvidentError(path, f"prompt {i} is empty")
        if pr in seen:
            raise EvidentError(path, f"duplicate prompt {pr!r}")
        seen.add(pr)


def _decode(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _read_npz(p: Path) -> tuple[tuple[str, ...], np.ndarray, str]:

    check_npz_sizes(p)
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in ("prompts", "embeddings") if k not in z.files]
            if missing:
                raise EvidentError(p, f"missing array(s) {', '.join(repr(k) for k in missing)}")
            prompts = tuple(_decode(v) for v in np.asarray(z["prompts"]).reshape(-1).tolist())
            emb = np.asarray(z["embeddings"])
            encoder = _decode(z["encoder"].reshape(-1)[0]) if "encoder" in z.files and z["encoder"].size else ""
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise EvidentError(p, f"not a readable .npz file ({exc})") from None
    return prompts, emb, encoder


def _read_h5(p: Path) -> tuple[tuple[str, ...], np.ndarray, str]:
    import h5py  # local: h5py only when used


    with h5_file(p) as f:
        missing = [k for k in ("prompts", "embeddings") if k not in f or not isinstance(f[k], h5py.Dataset)]
        if missing:
            raise EvidentError(p, f"missing dataset(s) {', '.join(repr(k) for k in missing)}")
        prompts = tuple(_decode(v) for v in np.asarray(read_dataset(f["prompts"], p, "prompts", numeric=False))
                        .reshape(-1).tolist())
        emb = np.asarray(read_dataset(f["embeddings"], p, "embeddings"))
        enc = f.attrs.get("encoder")
        if enc is None and "encoder" in f and isinstance(f["encoder"], h5py.Dataset):
            values = np.asarray(read_dataset(f["encoder"], p, "encoder", numeric=False)).reshape(-1)
            enc = values[0] if values.size else None
        encoder = "" if enc is None else _decode(enc.item() if isinstance(enc, np.generic) else enc)
    return prompts, emb, encoder
