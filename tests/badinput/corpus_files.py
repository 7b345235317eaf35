"""Bad-input cases for file formats: slides, feature bags, checkpoints, anchor banks (see :mod:`corpus`)."""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from corpus_base import (
    LONG,
    Fixtures,
    Run,
    _bag_arrays,
    _copy,
    _explain,
    _h5,
    _h5_attrs,
    _h5_huge_coords,
    _hostile_pickle,
    _info,
    _mkdir,
    _set,
    _torch_save,
    _write,
    case,
    huge_bag,
    huge_tiff,
)

for _n in (0, 8, 64, 200, 1000, 4096, 16384, 65536, 200_000, 600_000):
    @case(f"slide-truncated-{_n}")
    def _(d, fx, n=_n):
        p = d / "cut.svs"
        p.write_bytes(fx.slide.read_bytes()[:n])
        return _info(p)


for _off in (0, 2, 4, 7):
    @case(f"slide-header-byte-{_off}")
    def _(d, fx, off=_off):
        raw = bytearray(fx.slide.read_bytes())
        raw[off] ^= 0xFF
        p = d / "flip.svs"
        p.write_bytes(bytes(raw))
        return _info(p)


@case("slide-ifd-offset-past-end")
def _(d, fx):
    raw = bytearray(fx.slide.read_bytes()[:4096])
    raw[4:8] = struct.pack("<I", 10**9)
    p = d / "ifd.svs"
    p.write_bytes(bytes(raw))
    return _info(p)


@case("slide-garbage")
def _(d, fx):
    p = d / "rand.svs"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    return _info(p)


@case("slide-text-named-svs")
def _(d, fx):
    p = d / "notes.svs"
    p.write_text("this is not a slide\n")
    return _info(p)


@case("slide-missing")
def _(d, fx):
    return _info(d / "absent.svs")


@case("slide-folder-named-svs")
def _(d, fx):
    p = d / "folder.svs"
    p.mkdir()
    return _info(p)


@case("slide-name-too-long")
def _(d, fx):
    return _info(d / f"{LONG}.svs")


@case("slide-truncated-png")
def _(d, fx):
    from PIL import Image

    p = d / "img.png"
    Image.new("RGB", (300, 300), (200, 10, 10)).save(p)
    p.write_bytes(p.read_bytes()[:120])
    return _info(p)


@case("slide-tiff-declares-200000px-thumbnail")
def _(d, fx):
    p = huge_tiff(d / "huge.tif")
    return Run(["extract", str(p), "--out", str(d / "out"), "--level0-magnification", "20", "--no-progress"], p)


@case("slide-tiff-declares-200000px-info")
def _(d, fx):
    return _info(huge_tiff(d / "huge.tif"))


@case("slide-truncated-extract")
def _(d, fx):
    p = d / "cut.svs"
    p.write_bytes(fx.slide.read_bytes()[:30_000])
    return Run(["extract", str(p), "--out", str(d / "out"), "--no-progress"], p)


@case("slide-symlink-loop")
def _(d, fx):
    p = d / "loop.svs"
    p.symlink_to(p)
    return _info(p)


def _bag_case(name: str, build: Callable[[Path, np.ndarray, np.ndarray], Path]):
    @case(f"bag-{name}")
    def _(d, fx):
        feats, coords = _bag_arrays(fx)
        return _explain(build(d, feats, coords), fx, d)


_bag_case("declares-200Mx1024", lambda d, f, c: huge_bag(d / "huge.h5"))


_bag_case("declares-huge-coords", lambda d, f, c: _h5_huge_coords(d / "hc.h5", f))


_bag_case("no-features", lambda d, f, c: _h5(d / "nf.h5", coords=c))


_bag_case("no-coords", lambda d, f, c: _h5(d / "nc.h5", features=f))


_bag_case("features-is-group", lambda d, f, c: _h5(d / "g.h5", features={}, coords=c))


_bag_case("features-1d", lambda d, f, c: _h5(d / "1d.h5", features=f[:, 0], coords=c))


_bag_case("features-4d", lambda d, f, c: _h5(d / "4d.h5", features=f[None, None], coords=c))


_bag_case("features-strings", lambda d, f, c: _h5(d / "s.h5", features=np.array([b"a"] * len(c)), coords=c))


_bag_case("features-nan", lambda d, f, c: _h5(d / "nan.h5", features=_set(f, np.nan), coords=c))


_bag_case("features-inf", lambda d, f, c: _h5(d / "inf.h5", features=_set(f, np.inf), coords=c))


_bag_case("features-complex", lambda d, f, c: _h5(d / "cx.h5", features=f.astype(np.complex64), coords=c))


_bag_case("features-empty", lambda d, f, c: _h5(d / "e.h5", features=f[:0], coords=c[:0]))


_bag_case("features-wrong-width", lambda d, f, c: _h5(d / "w.h5", features=f[:, :100], coords=c))


_bag_case("features-zero-width", lambda d, f, c: _h5(d / "zw.h5", features=f[:, :0], coords=c))


_bag_case("n-mismatch", lambda d, f, c: _h5(d / "nm.h5", features=f, coords=c[:-1]))


_bag_case("coords-3-columns", lambda d, f, c: _h5(d / "c3.h5", features=f, coords=np.c_[c, c[:, 0]]))


_bag_case("coords-negative", lambda d, f, c: _h5(d / "neg.h5", features=f, coords=c - 10**6))


_bag_case("coords-fractional", lambda d, f, c: _h5(d / "fr.h5", features=f, coords=c + 0.5))


_bag_case("coords-nan", lambda d, f, c: _h5(d / "cn.h5", features=f, coords=_set(c.astype(float), np.nan)))


_bag_case("coords-strings", lambda d, f, c: _h5(d / "cs.h5", features=f, coords=np.array([[b"a", b"b"]] * len(c))))


_bag_case("not-hdf5", lambda d, f, c: _write(d / "txt.h5", b"features,coords\n1,2\n"))


_bag_case("empty-file", lambda d, f, c: _write(d / "empty.h5", b""))


_bag_case("missing", lambda d, f, c: d / "absent.h5")


_bag_case("name-too-long", lambda d, f, c: d / f"{LONG}.h5")


_bag_case("folder-named-h5", lambda d, f, c: _mkdir(d / "dir.h5"))


_bag_case("pt-garbage", lambda d, f, c: _write(d / "g.pt", b"\x80\x04garbage"))


_bag_case("pt-hostile-pickle", lambda d, f, c: _hostile_pickle(d / "evil.pt", d / "PWNED"))


_bag_case("pt-no-coords", lambda d, f, c: _torch_save(d / "t.pt", f))


_bag_case("pt-list", lambda d, f, c: _torch_save(d / "l.pt", [1, 2, 3]))


_bag_case("pt-coords-bad", lambda d, f, c: _torch_save(d / "pc.pt", {"features": f, "coords": np.zeros((3, 5))}))


_bag_case("declared-slide-size-exceeded",
          lambda d, f, c: _h5_attrs(d / "dims.h5", f, c, level0_width=1, level0_height=1))


for _n in (0, 100, 512, 2048):
    @case(f"bag-truncated-{_n}")
    def _(d, fx, n=_n):
        p = d / "cut.h5"
        p.write_bytes(fx.bags[0].read_bytes()[:n])
        return _explain(p, fx, d)


for _f in (0.5, 0.9, 0.99):
    @case(f"bag-truncated-to-{int(_f * 100)}-percent")
    def _(d, fx, f=_f):
        raw = fx.bags[0].read_bytes()
        p = d / "cut.h5"
        p.write_bytes(raw[:int(len(raw) * f)])
        return _explain(p, fx, d)


for _i, _off in enumerate((0, 8, 40)):
    @case(f"bag-superblock-byte-{_off}")
    def _(d, fx, off=_off):
        raw = bytearray(fx.bags[0].read_bytes())
        raw[off] ^= 0xFF
        p = d / "flip.h5"
        p.write_bytes(bytes(raw))
        return _explain(p, fx, d)


@case("bag-recover-declares-200Mx1024")
def _(d, fx):
    p = huge_bag(d / "huge.h5")
    return Run(["recover", "--model", str(fx.gce), "--features", str(p), "--out", str(d / "out"), "--device", "cpu"], p)


@case("bag-second-of-two-bad")
def _(d, fx):
    good = _copy(fx.bags[0], d / "good.h5")
    bad = _write(d / "bad.h5", b"nope")
    return Run(["explain", "--model", str(fx.ckpt), "--features", str(good), str(bad), "--out", str(d / "out"),
                "--methods", "attention", "--device", "cpu"], bad)


def _ckpt_case(name: str, build: Callable[[Path, Fixtures], Path]):
    @case(f"checkpoint-{name}")
    def _(d, fx):
        p = build(d, fx)
        bag = _copy(fx.bags[0], d / "bag.h5")
        return Run(["explain", "--model", str(p), "--features", str(bag), "--out", str(d / "out"),
                    "--methods", "attention", "--device", "cpu"], p)


def _blob(p: Path, state=None, config=None, raw=None) -> Path:
    import torch

    torch.save(raw if raw is not None else {"state_dict": state or {}, "config_json": config}, p)
    return p


def _edit_config(fx: Fixtures, p: Path, edit) -> Path:
    import torch

    blob = torch.load(fx.ckpt, weights_only=True)
    cfg = json.loads(blob["config_json"])
    out = edit(cfg)
    return _blob(p, blob["state_dict"], out if isinstance(out, str) else json.dumps(cfg))


for _n in (0, 10, 500, 5000):
    _ckpt_case(f"truncated-{_n}", lambda d, fx, n=_n: _write(d / "cut.pt", fx.ckpt.read_bytes()[:n]))


_ckpt_case("garbage", lambda d, fx: _write(d / "g.pt", b"PK\x03\x04" + b"\0" * 100))


_ckpt_case("hostile-pickle", lambda d, fx: _hostile_pickle(d / "evil.pt", d / "PWNED"))


_ckpt_case("a-list", lambda d, fx: _blob(d / "l.pt", raw=[1, 2]))


_ckpt_case("config-not-json", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: "{not json"))


_ckpt_case("config-deep", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: "[" * 100_000 + "]" * 100_000))


_ckpt_case("config-no-host", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c.pop("host")))


_ckpt_case("config-unknown-host", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c.update(host="nope")))


_ckpt_case("config-in-dim-string", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c["host_config"].update(in_dim="x")))


_ckpt_case("config-in-dim-huge", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c["host_config"].update(in_dim=10**12)))


_ckpt_case("config-hidden-negative", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c["host_config"].update(hidden=-5)))


_ckpt_case("weights-wrong-shape", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c["host_config"].update(hidden=7)))


_ckpt_case("missing", lambda d, fx: d / "absent.pt")


_ckpt_case("name-too-long", lambda d, fx: d / f"{LONG}.pt")


_ckpt_case("config-wrong-in-dim", lambda d, fx: _edit_config(fx, d / "c.pt", lambda c: c["host_config"].update(in_dim=10)))


_ckpt_case("state-not-tensors", lambda d, fx: _blob(d / "s.pt", {"w": 3}, "{}"))


def _anchor_case(name: str, build: Callable[[Path], Path]):
    @case(f"anchors-{name}")
    def _(d, fx):
        p = build(d)
        return Run(["train", "--manifest", str(fx.manifest), "--host", "abmil", "--out", str(d / "out"),
                    "--gce", "--anchors", str(p), "--epochs", "1", "--folds", "2"], p)


def _npz(p: Path, **arrays) -> Path:
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


def _npz_declaring_huge(p: Path) -> Path:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 100000), }"
    header += " " * (118 - len(header)) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("embeddings.npy", npy)
        z.writestr("prompts.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 118)
                   + ("{'descr': '<U1', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n").encode() + b"a\0\0\0")
    return p


_anchor_case("declares-huge-npz", lambda d: _npz_declaring_huge(d / "a.npz"))


_anchor_case("declares-huge-h5", lambda d: _h5_anchor_huge(d / "a.h5"))


_anchor_case("nan-embedding", lambda d: _npz(d / "a.npz", prompts=np.array(["a", "b"]), embeddings=np.array([[1.0, np.nan], [0, 1]])))


_anchor_case("count-mismatch", lambda d: _npz(d / "a.npz", prompts=np.array(["a"]), embeddings=np.ones((2, 3))))


_anchor_case("duplicate-prompt", lambda d: _npz(d / "a.npz", prompts=np.array(["a", "a"]), embeddings=np.eye(2)))


_anchor_case("empty", lambda d: _npz(d / "a.npz", prompts=np.array([], dtype=str), embeddings=np.zeros((0, 3))))


_anchor_case("1d-embeddings", lambda d: _npz(d / "a.npz", prompts=np.array(["a"]), embeddings=np.ones(3)))


_anchor_case("no-embeddings", lambda d: _npz(d / "a.npz", prompts=np.array(["a"])))


_anchor_case("pickled-object-array", lambda d: _npz(d / "a.npz", prompts=np.array([{"a": 1}], dtype=object), embeddings=np.ones((1, 2))))


_anchor_case("not-zip", lambda d: _write(d / "a.npz", b"not a zip file"))


_anchor_case("truncated-h5", lambda d: _write(d / "a.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 30))


_anchor_case("string-embeddings", lambda d: _h5(d / "a.h5", prompts=np.array([b"a"]), embeddings=np.array([[b"x"]])))


_anchor_case("wrong-suffix", lambda d: _write(d / "a.txt", b"a,1,2\n"))


_anchor_case("missing", lambda d: d / "absent.npz")


def _h5_anchor_huge(p: Path) -> Path:
    import h5py

    with h5py.File(p, "w") as f:
        f.create_dataset("prompts", data=np.array([b"a"]))
        f.create_dataset("embeddings", shape=(10**6, 10**6), dtype="f4", chunks=(1, 16))
    return p


@case("slide-png-over-the-memory-budget")
def _(d, fx):  # a budget of 50 MiB stands for a machine too small for this image
    from PIL import Image

    p = d / "big.png"
    Image.new("RGB", (3000, 3000), (250, 250, 250)).save(p)
    return Run(["info", str(p)], p, extra_env={"EVIDENT_MAX_LOAD_BYTES": str(50 * 2**20)})
