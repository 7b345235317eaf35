"""Property-based fuzzing of every loader: the only outcomes are a valid object or an EvidentError naming the file.

Random structure and values: declared sizes (up to 10^12 elements, never written), dtypes,
NaN/Infinity, unicode, deep nesting, random bytes. Each loader runs a short budget by default
(profile ``badinput-short``: a few seconds) and a long one under ``pytest -m slow``
(profile ``badinput-long``); see docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import EvidentError

settings.register_profile("badinput-short", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("badinput-long", max_examples=1500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SHORT, LONG = settings.get_profile("badinput-short"), settings.get_profile("badinput-long")


def _expect_valid_or_named(load, path: Path):
    """Run ``load(path)``; an exception other than EvidentError, or one not naming ``path``, fails."""
    try:
        return load(path)
    except EvidentError as exc:
        assert exc.path is not None and str(exc).startswith(f"{path}"), f"error does not name the file: {exc}"
        assert "\n" not in str(exc).strip(), f"more than one line: {exc!r}"
        return None


def both(strategy, name):
    """A short test and a ``slow`` long test of one property."""

    def deco(body):
        short = settings(SHORT)(given(strategy)(body))
        long = pytest.mark.slow(settings(LONG)(given(strategy)(body)))
        short.__name__, long.__name__ = f"test_fuzz_{name}", f"test_fuzz_{name}_long"
        return short, long

    return deco


def _tmp(suffix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix="evident-fuzz-"))
    return d / f"f{suffix}"


# ---------------------------------------------------------------- value strategies
finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32)
scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63) | finite_or_not | st.text(max_size=20)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=8), c, max_size=5),
                           max_leaves=25)
deep = st.integers(1, 120_000).map(lambda n: "[" * n + "]" * n)
declared = st.integers(0, 40) | st.sampled_from([10**6, 10**10, 10**12])  # huge ones are never written
dtypes = st.sampled_from(["f4", "f8", "i4", "i8", "u1", "S4", "c8", "?", "f2"])


def _array(shape, dtype, rng_seed, special):
    rng = np.random.default_rng(rng_seed)
    n = int(np.prod(shape)) if shape else 1
    if np.dtype(dtype).kind == "S":
        return np.array([b"ab"] * n, dtype=dtype).reshape(shape)
    with np.errstate(all="ignore"):
        a = (rng.standard_normal(n) * 1000).astype(dtype).reshape(shape)
        if special and a.size and np.dtype(dtype).kind in "fc":
            a.flat[0] = np.asarray(special, dtype=np.float64).astype(dtype)
    return a


@st.composite
def h5_datasets(draw, names):
    out = {}
    for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))):
        shape = tuple(draw(st.lists(declared, min_size=0, max_size=3)))
        out[name] = (shape, draw(dtypes), draw(st.integers(0, 9)), draw(st.sampled_from([0, np.nan, np.inf, -np.inf])))
    attrs = draw(st.dictionaries(st.sampled_from(["patch_size_level0", "patch_size", "downsample", "patch_level",
                                                  "level0_width", "level0_height", "level0_magnification",
                                                  "target_magnification", "format", "slide_id", "classes", "prompts"]),
                                 scalars.filter(lambda v: v is not None), max_size=4))
    return out, attrs


def _write_h5(path: Path, spec, root_attrs=None):
    import h5py

    datasets, attrs = spec
    with h5py.File(path, "w") as f:
        for name, (shape, dtype, seed, special) in datasets.items():
            n = int(np.prod(shape, dtype=np.float64)) if shape else 1
            if n > 10**5 or any(s > 10**5 for s in shape):  # declared, never stored
                f.create_dataset(name, shape=shape, dtype=dtype if dtype != "S4" else "f4",
                                 chunks=None if 0 in shape else True)
            else:
                f.create_dataset(name, data=_array(shape, dtype, seed, special))
        target = f.get("coords", f)
        for k, v in {**attrs, **(root_attrs or {})}.items():
            try:
                target.attrs[k] = v
            except (TypeError, ValueError, OverflowError):
                target.attrs[k] = str(v).replace("\x00", "?")


def _h5_outcome(spec, reader):
    """``reader`` on an HDF5 file written from ``spec``: a valid object, or ``None`` after an
    EvidentError naming the file."""
    p = _tmp(".h5")
    _write_h5(p, spec)
    return _expect_valid_or_named(reader, p)


# ---------------------------------------------------------------- HDF5 feature bags
@both(h5_datasets(["features", "coords", "extra"]), "hdf5_bags")
def _bags(spec):
    from core.data.bags import read_bag

    bag = _h5_outcome(spec, read_bag)
    if bag is not None:
        assert bag.features.ndim == 2 and bag.coords.shape == (bag.features.shape[0], 2)
        assert np.isfinite(bag.features).all() and bag.features.shape[0] > 0


test_fuzz_hdf5_bags, test_fuzz_hdf5_bags_long = _bags


@both(st.binary(max_size=4000), "bag_bytes")
def _bag_bytes(data):
    from core.data.bags import read_bag

    for suffix in (".h5", ".pt"):
        p = _tmp(suffix)
        p.write_bytes(data)
        _expect_valid_or_named(read_bag, p)


test_fuzz_bag_bytes, test_fuzz_bag_bytes_long = _bag_bytes


# ---------------------------------------------------------------- manifests
cells = st.sampled_from(["", "0", "1", "nan", "inf", "-1", "2.5", "x", "a,b", '"q"', "é", "\x00", " "]) | st.text(max_size=6)
headers = st.lists(st.sampled_from(["slide_id", "label", "time", "event", "case_id", "fold", "split", "slide_path",
                                    "features_path", "SLIDE_ID", "other"]), min_size=0, max_size=6)


@st.composite
def manifests(draw):
    head = draw(headers)
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(head) + 2), max_size=8))
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue()


@both(manifests() | st.text(max_size=300), "manifests")
def _manifests(text):
    from core.data.manifest import read_manifest

    p = _tmp(".csv")
    p.write_text(text, encoding="utf-8", errors="surrogatepass") if False else p.write_bytes(text.encode("utf-8", "replace"))
    m = _expect_valid_or_named(read_manifest, p)
    if m is not None:
        assert m.rows and len({r.slide_id for r in m.rows}) == len(m.rows)
        for r in m.rows:  # every mapping a command does on a valid manifest: name-matched or a named error
            if m.task == "classification":
                _expect_valid_or_named(lambda _p, r=r: m.label_index(r, ("0", "1")), p)


test_fuzz_manifests, test_fuzz_manifests_long = _manifests


@both(st.text(max_size=400) | st.lists(st.lists(cells, max_size=6), max_size=8).map(
    lambda rows: "\n".join(",".join(r) for r in rows)), "mil_csv")
def _mil(text):
    from core.data.mil_csv import read_mil_csv

    p = _tmp(".csv")
    p.write_bytes(text.encode("utf-8", "replace"))
    _expect_valid_or_named(read_mil_csv, p)


test_fuzz_mil_csv, test_fuzz_mil_csv_long = _mil


# ---------------------------------------------------------------- GeoJSON
coord = finite_or_not | st.integers(-10**6, 10**6) | st.text(max_size=2)
rings = st.lists(st.lists(coord, min_size=0, max_size=3), max_size=6)
geometries = st.fixed_dictionaries({
    "type": st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString", "GeometryCollection", "Nope"]),
    "coordinates": st.lists(rings, max_size=3) | st.lists(st.lists(rings, max_size=2), max_size=2) | json_values,
})
features = st.fixed_dictionaries({"type": st.just("Feature"), "geometry": geometries | json_values,
                                  "properties": json_values})
geojson = (st.fixed_dictionaries({"type": st.just("FeatureCollection"), "features": st.lists(features, max_size=4)})
           | st.lists(features, max_size=3) | geometries | json_values)


def _dump(doc) -> str:
    return json.dumps(doc, allow_nan=True)


@both(geojson.map(_dump) | deep | st.text(max_size=200), "geojson")
def _geojson(text):
    from core.data.annotations import read_geojson

    p = _tmp(".geojson")
    p.write_bytes(text.encode("utf-8", "replace"))
    anns = _expect_valid_or_named(read_geojson, p)
    for a in anns or []:
        assert a.geometry.is_valid and not a.geometry.is_empty


test_fuzz_geojson, test_fuzz_geojson_long = _geojson


# ---------------------------------------------------------------- evidence files
@st.composite
def evidence_files(draw):
    spec = draw(h5_datasets(["coords", "gates", "responses", "coverage", "prediction/probs", "scores/attention",
                             "subsets/recovered"]))
    root = {"format": draw(st.sampled_from(["evident-evidence", "other"])),
            "classes": draw(st.sampled_from(['["a", "b"]', "[", '{"a": 1}', "[1, [2]]", "null"])),
            "prompts": draw(st.sampled_from(['["p"]', "x", "[]"])),
            "predicted_class": draw(st.sampled_from([0, -1, "x", 1.5]))}
    return spec, root


@both(evidence_files(), "evidence_files")
def _evidence(arg):
    from core.evidence.evidence_file import read_evidence

    spec, root = arg
    p = _tmp(".evidence.h5")
    _write_h5(p, spec, root)
    ev = _expect_valid_or_named(read_evidence, p)
    if ev is not None:
        assert ev.coords.ndim == 2 and ev.coords.shape[1] == 2


test_fuzz_evidence_files, test_fuzz_evidence_files_long = _evidence


# ---------------------------------------------------------------- session files
history_entries = st.fixed_dictionaries({k: json_values for k in ("action", "indices", "probs_before", "probs_after",
                                                                  "classes", "phi_delta", "layers")})
layers = st.fixed_dictionaries({"name": json_values}, optional={
    "kind": st.sampled_from(["scalar", "subset", "regions", "x"]), "values": json_values, "indices": json_values,
    "geometry": geometries | json_values, "settings": json_values})
sessions = st.fixed_dictionaries({"format": st.sampled_from(["evident-review-session", "x"]),
                                  "version": st.sampled_from([1, 0, 99, "1"]),
                                  "files": st.dictionaries(st.sampled_from(["slide", "features", "x"]), json_values)
                                  | json_values},
                                 optional={"layers": st.lists(layers, max_size=3) | json_values,
                                           "selection": json_values, "history": st.lists(history_entries, max_size=2),
                                           "view": json_values})


@both(sessions.map(_dump) | deep | st.text(max_size=100), "session_files")
def _sessions(text):
    from core.review.session import ReviewSession
    from core.review.session_file import read_session, restore_session

    p = _tmp(".evident-session.json")
    p.write_bytes(text.encode("utf-8", "replace"))
    doc = _expect_valid_or_named(read_session, p)
    if doc is not None:  # a document that passed restores without an unexpected exception
        doc["files"] = {k: None for k in doc["files"]}  # no real files: only the structure is exercised
        with contextlib.suppress(EvidentError):
            restore_session(ReviewSession(), doc)


test_fuzz_session_files, test_fuzz_session_files_long = _sessions


# ---------------------------------------------------------------- checkpoint configs
host_configs = st.fixed_dictionaries({}, optional={
    "in_dim": st.integers(-3, 64) | st.just(10**12) | scalars, "n_outputs": st.integers(-1, 5) | scalars,
    "hidden": st.integers(-1, 32) | scalars, "attn_hidden": st.integers(-1, 16) | scalars,
    "dropout": finite_or_not | scalars, "task": st.sampled_from(["classification", "survival", "x"]),
    "extra": json_values})
configs = st.fixed_dictionaries({"host": st.sampled_from(["abmil", "clam_sb", "transmil", "dsmil", "dtfd", "nope"]),
                                 "host_config": host_configs | json_values},
                                optional={"task": json_values, "classes": json_values, "gce": json_values})


@both(configs.map(_dump) | deep | st.text(max_size=60), "checkpoint_configs")
def _checkpoints(text):
    import torch

    from core.models.checkpoint import load_checkpoint

    p = _tmp(".pt")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "config_json": text}, p)
    _expect_valid_or_named(load_checkpoint, p)


test_fuzz_checkpoint_configs, test_fuzz_checkpoint_configs_long = _checkpoints


# ---------------------------------------------------------------- anchor banks
@both(h5_datasets(["prompts", "embeddings", "encoder"]), "anchor_banks_h5")
def _anchors_h5(spec):
    from core.data.anchors import read_anchor_bank

    bank = _h5_outcome(spec, read_anchor_bank)
    if bank is not None:
        assert bank.embeddings.ndim == 2 and np.isfinite(bank.embeddings).all()


test_fuzz_anchor_banks_h5, test_fuzz_anchor_banks_h5_long = _anchors_h5


@both(st.tuples(st.lists(st.text(max_size=5), max_size=4), st.lists(st.integers(0, 5), min_size=0, max_size=3),
                dtypes, finite_or_not, st.booleans()), "anchor_banks_npz")
def _anchors_npz(arg):
    from core.data.anchors import read_anchor_bank

    prompts, shape, dtype, special, with_prompts = arg
    p = _tmp(".npz")
    arrays = {"embeddings": _array(tuple(shape), dtype, 0, special)}
    if with_prompts:
        arrays["prompts"] = np.array(prompts, dtype=str)
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)
    _expect_valid_or_named(read_anchor_bank, p)


test_fuzz_anchor_banks_npz, test_fuzz_anchor_banks_npz_long = _anchors_npz


@pytest.fixture(autouse=True, scope="module")
def _small_memory_budget():
    """A 64 MiB budget per input: what a file declares beyond it must be refused, not allocated."""
    old = os.environ.get("EVIDENT_MAX_LOAD_BYTES")
    os.environ["EVIDENT_MAX_LOAD_BYTES"] = str(64 * 2**20)
    yield
    if old is None:
        del os.environ["EVIDENT_MAX_LOAD_BYTES"]
    else:
        os.environ["EVIDENT_MAX_LOAD_BYTES"] = old
