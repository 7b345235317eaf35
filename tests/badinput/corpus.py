"""The bad-input corpus: ≥ 150 damaged inputs made at test time from the real fixtures.

Each case is a function ``make(d, fx) -> Run`` that writes its damaged input(s) into the empty
folder ``d`` (from the real CMU slide, real Musk1 bags and a small real checkpoint in ``fx``) and
returns the ``evident`` command to run on them and the file the error must name. The test
(:mod:`tests.badinput.test_corpus`) checks for every case: exit status 2, exactly one stderr line
``error: <culprit>: …``, no traceback, and ``d`` unchanged afterwards (inputs byte-identical, no
output or temporary left behind). Families: slides, bags, manifests, GeoJSON/XML annotations,
checkpoints, anchor banks, MIL CSVs, evidence files, output paths.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Fixtures", "Run", "CASES", "huge_bag", "huge_tiff"]

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


# ------------------------------------------------------------------ builders shared with other tests
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


# ------------------------------------------------------------------ slides (evident info / extract)
def _info(p: Path) -> Run:
    return Run(["info", str(p)], p)


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


# ------------------------------------------------------------------ feature bags (evident explain / recover)
def _explain(bag: Path, fx: Fixtures, d: Path) -> Run:
    return Run(["explain", "--model", str(fx.ckpt), "--features", str(bag), "--out", str(d / "out"),
                "--methods", "attention", "--device", "cpu"], bag)


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


# ------------------------------------------------------------------ manifests (evident audit / train)
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


def _manifest_case(name: str, edit: Callable[[list[list[str]]], object], suffix: str = ".csv"):
    @case(f"manifest-{name}")
    def _(d, fx):
        rows = _rows(fx)
        out = edit(rows)
        p = d / f"m{suffix}"
        if isinstance(out, bytes):
            p.write_bytes(out)
        else:
            _csv(p, out if out is not None else rows)
        return _audit(p, fx, d)


def _col(rows, name):
    return rows[0].index(name)


def _setcell(rows, i, name, value):
    rows[i][_col(rows, name)] = value
    return rows


_manifest_case("empty", lambda r: b"")
_manifest_case("header-only", lambda r: [r[0]])
_manifest_case("no-slide-id-column", lambda r: [["id", *r[0][1:]], *r[1:]])
_manifest_case("duplicate-slide-id", lambda r: [*r, r[1]])
_manifest_case("empty-slide-id", lambda r: _setcell(r, 2, "slide_id", ""))
_manifest_case("empty-label", lambda r: _setcell(r, 2, "label", ""))
_manifest_case("unknown-label", lambda r: _setcell(r, 2, "label", "2"))
_manifest_case("label-by-other-name", lambda r: _setcell(r, 1, "label", "tumour"))
_manifest_case("ragged-row", lambda r: [*r[:2], r[2] + ["extra"], *r[3:]])
_manifest_case("binary", lambda r: b"\xff\xfe\x00\x81\x00binary\x00")
_manifest_case("latin1", lambda r: "slide_id,label\ncaf\xe9,1\n".encode("latin-1"))
_manifest_case("fold-negative", lambda r: [[*r[0], "fold"], *[[*x, "-1"] for x in r[1:]]])
_manifest_case("fold-fraction", lambda r: [[*r[0], "fold"], *[[*x, "0.5"] for x in r[1:]]])


def _features_path_case(name: str, value: str):  # the error names the path tried (and the manifest row)
    @case(f"manifest-features-path-{name}")
    def _(d, fx):
        if name == "is-a-folder":
            (d / value).mkdir()
        rows = _setcell(_rows(fx), 2, "features_path", value)
        return _audit(_csv(d / "m.csv", rows), fx, d, d / value)


_features_path_case("missing", "nowhere/x.h5")
_features_path_case("too-long", LONG + ".h5")
_features_path_case("is-a-folder", "sub")
_manifest_case("slide-path-missing", lambda r: [[*r[0], "slide_path"], *[[*x, "gone.svs"] for x in r[1:]]])
_manifest_case("no-rows-blank-lines", lambda r: [r[0], [""] * len(r[0]), [""] * len(r[0])])


@case("manifest-nul-in-slide-id")  # no such feature file: the folder searched is named
def _(d, fx):
    p = _write(d / "m.csv", b"slide_id,label\na\x00b,1\n")
    return _audit(p, fx, d, fx.manifest.parent)


@case("manifest-train-no-label-column")
def _(d, fx):
    rows = _rows(fx)
    p = _csv(d / "m.csv", [[c if c != "label" else "lbl" for c in rows[0]], *rows[1:]])
    return Run(["train", "--manifest", str(p), "--host", "abmil", "--out", str(d / "out")], p)


@case("manifest-missing")
def _(d, fx):
    return _audit(d / "absent.csv", fx, d)


@case("manifest-name-too-long")
def _(d, fx):
    return _audit(d / f"{LONG}.csv", fx, d)


@case("manifest-feature-file-damaged")
def _(d, fx):
    bad = _write(d / "bad.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    rows = _rows(fx)
    _setcell(rows, 1, "features_path", str(bad))
    return _audit(_csv(d / "m.csv", rows), fx, d, bad)


@case("manifest-feature-file-declares-huge")
def _(d, fx):
    bad = huge_bag(d / "huge.h5")
    rows = _rows(fx)
    _setcell(rows, 1, "features_path", str(bad))
    return _audit(_csv(d / "m.csv", rows), fx, d, bad)


@case("manifest-survival-nan-time")
def _(d, fx):
    rows = [["slide_id", "time", "event"], ["a", "nan", "1"], ["b", "3", "0"]]
    p = _csv(d / "m.csv", rows)
    return Run(["train", "--manifest", str(p), "--features", str(fx.manifest.parent), "--host", "abmil",
                "--out", str(d / "out")], p)


@case("manifest-survival-event-2")
def _(d, fx):
    p = _csv(d / "m.csv", [["slide_id", "time", "event"], ["a", "1", "2"], ["b", "3", "0"]])
    return Run(["train", "--manifest", str(p), "--features", str(fx.manifest.parent), "--host", "abmil",
                "--out", str(d / "out")], p)


@case("manifest-train-one-class")
def _(d, fx):
    rows = _rows(fx, 6)
    for i in range(1, len(rows)):
        _setcell(rows, i, "label", "1")
    p = _csv(d / "m.csv", rows)
    return Run(["train", "--manifest", str(p), "--host", "abmil", "--out", str(d / "out")], p)


@case("manifest-train-features-path-missing")
def _(d, fx):
    rows = _rows(fx, 1000)
    _setcell(rows, 3, "features_path", str(d / "gone.h5"))
    p = _csv(d / "m.csv", rows)
    return Run(["train", "--manifest", str(p), "--host", "abmil", "--out", str(d / "out")], d / "gone.h5")


# ------------------------------------------------------------------ annotations (evident audit --annotations)
def _ann_case(name: str, text: str | bytes, suffix: str = ".geojson"):
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    if suffix == ".geojson":  # `evident audit --annotations` reads GeoJSON
        @case(f"annotation-{name}")
        def _(d, fx):
            rows = _rows(fx)
            manifest = _csv(d / "m.csv", rows)
            folder = d / "ann"
            folder.mkdir()
            p = folder / f"{rows[1][_col(rows, 'slide_id')]}{suffix}"
            p.write_bytes(data)
            return _audit(manifest, fx, d, p, "--annotations", str(folder))

    @case(f"annotation-{name}-viewer")  # the viewer reads GeoJSON and ASAP / ImageScope XML
    def _(d, fx):
        p = d / f"slide{suffix}"
        p.write_bytes(data)
        return Run([], p, viewer_loader="annotations")


def _poly(coords) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [coords]}}]})


_SQ = [[0, 0], [500, 0], [500, 500], [0, 500], [0, 0]]
_ann_case("nan-coordinate", _poly(_SQ).replace("500, 0]", "NaN, 0]", 1))
_ann_case("infinity-coordinate", _poly(_SQ).replace("500, 500]", "Infinity, 500]", 1))
_ann_case("minus-infinity", _poly(_SQ).replace("[0, 500]", "[-Infinity, 500]", 1))
_ann_case("nested-100000-deep", '{"type": "FeatureCollection", "features": ' + "[" * 100_000 + "]" * 100_000 + "}")
_ann_case("geometry-collection-deep",
          '{"type":"Feature","properties":{},"geometry":' + '{"type":"GeometryCollection","geometries":[' * 3000
          + '{"type":"Point","coordinates":[0,0]}' + "]}" * 3000 + "}")
_ann_case("not-json", "this is not json")
_ann_case("truncated-json", _poly(_SQ)[:40])
_ann_case("empty-file", "")
_ann_case("wrong-type", json.dumps({"type": "Topology"}))
_ann_case("features-not-list", json.dumps({"type": "FeatureCollection", "features": {"a": 1}}))
_ann_case("feature-not-object", json.dumps({"type": "FeatureCollection", "features": [1]}))
_ann_case("feature-no-geometry", json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]}))
_ann_case("geometry-no-type", json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"coordinates": []}}]}))
_ann_case("polygon-two-points", _poly([[0, 0], [1, 1]]))
_ann_case("coordinates-strings", _poly([["a", "b"], ["c", "d"], ["e", "f"], ["a", "b"]]))
_ann_case("coordinates-not-list", json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": 5}}]}))
_ann_case("properties-not-object", json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": [1], "geometry": {"type": "Polygon", "coordinates": [_SQ]}}]}))
_ann_case("binary", b"\xff\xfe\x00\x00\x81garbage")
_ann_case("xml-malformed", "<ASAP_Annotations><Annotations>", ".xml")
_ann_case("xml-unknown-root", "<svg></svg>", ".xml")
_ann_case("xml-nan-vertex", '<Annotations><Annotation><Regions><Region><Vertices><Vertex X="nan" Y="1"/>'
          '<Vertex X="5" Y="1"/><Vertex X="5" Y="5"/></Vertices></Region></Regions></Annotation></Annotations>', ".xml")
_ann_case("xml-non-numeric", '<ASAP_Annotations><Annotations><Annotation Type="Polygon"><Coordinates>'
          '<Coordinate Order="0" X="a" Y="0"/></Coordinates></Annotation></Annotations></ASAP_Annotations>', ".xml")
_ann_case("xml-billion-laughs", '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
          + ']><ASAP_Annotations><Annotations><Annotation Name="&j;"/></Annotations></ASAP_Annotations>', ".xml")
_ann_case("xml-empty", "", ".xml")
_ann_case("xml-order-not-number", '<ASAP_Annotations><Annotations><Annotation Type="Polygon"><Coordinates>'
          '<Coordinate Order="z" X="0" Y="0"/></Coordinates></Annotation></Annotations></ASAP_Annotations>', ".xml")


@case("annotation-folder-missing")
def _(d, fx):
    manifest = _csv(d / "m.csv", _rows(fx))
    return _audit(manifest, fx, d, d / "noann", "--annotations", str(d / "noann"))


# ------------------------------------------------------------------ checkpoints (evident explain --model)
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


# ------------------------------------------------------------------ anchor banks (evident train --gce --anchors)
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


# ------------------------------------------------------------------ MIL CSVs (evident import-bags)
def _mil_case(name: str, build: Callable[[Path, Fixtures], Path]):
    @case(f"milcsv-{name}")
    def _(d, fx):
        p = build(d, fx)
        return Run(["import-bags", str(p), "--out", str(d / "out")], p)


def _musk_lines(fx: Fixtures, n: int = 40) -> list[str]:
    return fx.musk_csv.read_text(encoding="utf-8").splitlines()[:n]


_mil_case("empty", lambda d, fx: _write(d / "m.csv", b""))
_mil_case("ragged", lambda d, fx: _text(d / "m.csv", [*_musk_lines(fx, 5), _musk_lines(fx, 6)[5].rsplit(",", 3)[0]]))
_mil_case("non-numeric", lambda d, fx: _text(d / "m.csv", [*_musk_lines(fx, 5), _musk_lines(fx, 6)[5].rsplit(",", 1)[0] + ",abc"]))
_mil_case("nan-feature", lambda d, fx: _text(d / "m.csv", [*_musk_lines(fx, 5), _musk_lines(fx, 6)[5].rsplit(",", 1)[0] + ",nan"]))
_mil_case("inf-feature", lambda d, fx: _text(d / "m.csv", [*_musk_lines(fx, 5), _musk_lines(fx, 6)[5].rsplit(",", 1)[0] + ",inf"]))
_mil_case("two-columns", lambda d, fx: _text(d / "m.csv", ["1,b1", "0,b2"]))
_mil_case("binary", lambda d, fx: _write(d / "m.csv", b"\x00\x01\xff\xfe" * 100))
_mil_case("latin1", lambda d, fx: _write(d / "m.csv", "1,caf\xe9,0.5\n".encode("latin-1")))
_mil_case("empty-bag-id", lambda d, fx: _text(d / "m.csv", ["1,,0.5,0.2", "0,b,0.1,0.3"]))
_mil_case("bag-with-two-labels", lambda d, fx: _text(d / "m.csv", ["1,b,0.5,0.2", "0,b,0.1,0.3"]))
_mil_case("missing", lambda d, fx: d / "absent.csv")
_mil_case("name-too-long", lambda d, fx: d / f"{LONG}.csv")
_mil_case("header-line", lambda d, fx: _text(d / "m.csv", ["label,bag,f1,f2", "1,b,0.5,0.2"]))
_mil_case("folder", lambda d, fx: _mkdir(d / "m.csv"))


def _text(p: Path, lines: list[str]) -> Path:
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


# ------------------------------------------------------------------ evidence files already in OUT (explain / recover merge)
def _evidence_case(name: str, build: Callable[[Path, Fixtures], bytes | None], command: str = "explain"):
    @case(f"evidence-{name}-{command}")
    def _(d, fx):
        bag = _copy(fx.bags[0], d / f"{fx.bags[0].stem}.h5")
        out = d / "out"
        out.mkdir()
        target = out / f"{bag.stem}.evidence.h5"
        data = build(target, fx)
        if isinstance(data, bytes):
            target.write_bytes(data)
        model = fx.ckpt if command == "explain" else fx.gce
        extra = ["--methods", "attention"] if command == "explain" else []
        return Run([command, "--model", str(model), "--features", str(bag), "--out", str(out), *extra,
                    "--device", "cpu"], target)


def _other_slide_evidence(target: Path, fx: Fixtures):
    from core.evidence.evidence_file import Evidence, write_evidence

    write_evidence(target, Evidence(slide_id="other", coords=np.zeros((3, 2), np.int64), model=str(fx.ckpt)))


def _other_model_evidence(target: Path, fx: Fixtures):
    from core.data.bags import read_bag
    from core.evidence.evidence_file import Evidence, write_evidence

    b = read_bag(fx.bags[0])
    write_evidence(target, Evidence(slide_id=b.slide_id, coords=b.coords, model="/elsewhere/other.pt",
                                    scores={"attention": np.zeros(b.n_patches, np.float32)}))


for _cmd in ("explain", "recover"):
    _evidence_case("garbage", lambda t, fx: b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, _cmd)
    _evidence_case("not-hdf5", lambda t, fx: b"hello", _cmd)
    _evidence_case("other-slide", _other_slide_evidence, _cmd)
    _evidence_case("other-model", _other_model_evidence, _cmd)
    _evidence_case("plain-h5", lambda t, fx: _h5(t, x=np.zeros(3)) and None, _cmd)


# ------------------------------------------------------------------ output paths
def _out_case(name: str, command: str, make_out: Callable[[Path], Path]):
    @case(f"out-{name}-{command}")
    def _(d, fx):
        out = make_out(d)
        if command == "explain":
            argv = ["explain", "--model", str(fx.ckpt), "--features", str(_copy(fx.bags[0], d / "b.h5")),
                    "--out", str(out), "--methods", "attention", "--device", "cpu"]
        elif command == "recover":
            argv = ["recover", "--model", str(fx.gce), "--features", str(_copy(fx.bags[0], d / "b.h5")),
                    "--out", str(out), "--device", "cpu"]
        elif command == "import-bags":
            argv = ["import-bags", str(fx.musk_csv), "--out", str(out)]
        elif command == "audit":
            argv = _audit(_csv(d / "m.csv", _rows(fx)), fx, d).argv
            argv[argv.index("--out") + 1] = str(out)
        elif command == "extract":
            argv = ["extract", str(fx.slide), "--out", str(out), "--no-progress"]
        else:  # train
            argv = ["train", "--manifest", str(fx.manifest), "--host", "abmil", "--out", str(out), "--epochs", "1"]
        return Run(argv, out)


for _cmd in ("explain", "recover", "import-bags", "audit", "extract", "train"):
    _out_case("is-a-file", _cmd, lambda d: _write(d / "outfile", b"x"))
    _out_case("under-a-file", _cmd, lambda d: _write(d / "outfile", b"x") / "sub")
    _out_case("name-too-long", _cmd, lambda d: d / LONG)


@case("slide-png-over-the-memory-budget")
def _(d, fx):  # a budget of 50 MiB stands for a machine too small for this image
    from PIL import Image

    p = d / "big.png"
    Image.new("RGB", (3000, 3000), (250, 250, 250)).save(p)
    return Run(["info", str(p)], p, extra_env={"EVIDENT_MAX_LOAD_BYTES": str(50 * 2**20)})
