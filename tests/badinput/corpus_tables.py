"""Bad-input cases for tables and documents: manifests, GeoJSON/XML annotations, MIL CSVs, evidence files
already in the output folder, output paths (see :mod:`corpus`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from corpus_base import (
    LONG,
    Fixtures,
    Run,
    _audit,
    _col,
    _copy,
    _csv,
    _h5,
    _mkdir,
    _rows,
    _setcell,
    _text,
    _write,
    case,
    huge_bag,
)


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


def _heatmaps_case(name: str, build: Callable[[Path, Fixtures], bytes | None], *extra: str):
    """``evident heatmaps`` on the CMU slide with a damaged evidence file: named, and no output folder left."""
    @case(f"evidence-{name}-heatmaps")
    def _(d, fx):
        (d / "slides").mkdir()
        (d / "slides" / fx.slide.name).symlink_to(fx.slide)
        (d / "ev").mkdir()
        target = d / "ev" / f"{fx.slide.stem}.evidence.h5"
        data = build(target, fx)
        if isinstance(data, bytes):
            target.write_bytes(data)
        return Run(["heatmaps", "--evidence", str(target), "--slides", str(d / "slides"), "--out", str(d / "out"),
                    *extra], target)


def _cmu_evidence(target: Path, corner: tuple[int, int] = (0, 0)) -> None:
    from core.evidence.evidence_file import Evidence, write_evidence

    coords = np.array([[0, 0], [256, 0], list(corner)], np.int64)
    write_evidence(target, Evidence(slide_id=target.name.split(".")[0], coords=coords,
                                    scores={"attention": np.array([0.1, 0.5, 0.9])}))


def _truncated_cmu_evidence(target: Path, fx: Fixtures) -> bytes:
    _cmu_evidence(target, (512, 0))
    return target.read_bytes()[:400]


_heatmaps_case("truncated", _truncated_cmu_evidence)
_heatmaps_case("not-hdf5", lambda t, fx: b"hello")
_heatmaps_case("outside-the-slide", lambda t, fx: _cmu_evidence(t, (99_999, 0)))
_heatmaps_case("without-the-map", lambda t, fx: _cmu_evidence(t, (512, 0)), "--maps", "lrp")
_heatmaps_case("cohort-scale-truncated", _truncated_cmu_evidence, "--scale", "cohort")
def _report_evidence_case(name: str, build: Callable[[Path, Fixtures], bytes | None]):
    @case(f"evidence-{name}-report")
    def _(d, fx):
        target = d / "s.evidence.h5"
        data = build(target, fx)
        if isinstance(data, bytes):
            target.write_bytes(data)
        return Run(["report", "--evidence", str(target), "--out", str(d / "report")], target)


_report_evidence_case("garbage", lambda t, fx: b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
_report_evidence_case("not-hdf5", lambda t, fx: b"hello")
_report_evidence_case("plain-h5", lambda t, fx: _h5(t, x=np.zeros(3)) and None)


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
        elif command == "report":
            from core.review.demo import write_demo_project

            ev = write_demo_project(fx.slide, d / "project")["evidence"]
            argv = ["report", "--evidence", str(ev), "--out", str(out)]
        else:  # train
            argv = ["train", "--manifest", str(fx.manifest), "--host", "abmil", "--out", str(out), "--epochs", "1"]
        return Run(argv, out)


for _cmd in ("explain", "recover", "import-bags", "audit", "extract", "train", "report"):
    _out_case("is-a-file", _cmd, lambda d: _write(d / "outfile", b"x"))
    _out_case("under-a-file", _cmd, lambda d: _write(d / "outfile", b"x") / "sub")
    _out_case("name-too-long", _cmd, lambda d: d / LONG)
