"""Per-slide evidence file (HDF5): what a model found in one slide, for the viewer and the audits.

Layout (every array optional unless marked *required*; N patches, M anchors, C outputs)::

    /                      attrs: format = "evident-evidence", version = 1, slide_id (str),
                                  n_patches (int), coords_sha256 (str), task (str),
                                  classes (JSON list of str), predicted_class (int, −1 for survival),
                                  model (str: checkpoint path or name), anchor_digest (str),
                                  prompts (JSON list of M str)
    /coords                (N, 2) int64   level-0 patch corners (*required*); a copy so a file can be
                                          checked against the slide's bag (coords_sha256 likewise)
    /prediction/probs      (C,) float32   class probabilities (classification)
    /prediction/risk       (1,) float32   risk (survival); regression: the raw output, in the
                                          target's training-fold SD units (core.models.target_scale)
    /prediction/value      (1,) float64   regression: the predicted value in target units
    /scores/<method>       (N,) float32   one per explanation method ("attention", "gate", "ig", ...)
                           attrs (optional): scalar str/int/float attributes a writer adds
                                  (:attr:`Evidence.score_attrs`; e.g. the folds behind an ensemble
                                  map ``<method>_ensemble_mean``, docs/ensemble_maps.md)
    /gates                 (N,) float32   GCE gates π
    /responses             (N, M) float32 anchor responses r
    /coverage              (M,) float32   soft noisy-OR coverage v(π)
    /subsets/<name>        (K,) int64     patch indices (e.g. "recovered", "threshold", "attention_topk")
                           attrs: stop_reason (str, "" if none), coverage ((M,) float64, optional),
                                  n_threshold (int, optional), and any further str/int/float
                                  attributes a writer adds (:attr:`Subset.attrs`; e.g. the
                                  evidence search's settings on ``evidence_set_<j>``)
    /snr/<name>            attrs only: S/N/R numbers of subset <name> (e.g. keep_only_drop,
                                  complement_degradation, cd_gap), floats

Writers replace the whole file atomically (:func:`write_evidence`); to add one method's scores to an
existing file use :func:`add_scores`, which checks N and rewrites the file atomically. Commands
(``evident explain``, ``evident recover``) write through :func:`merge_into_file`: what an earlier
command wrote to the same file is kept, in any order; a file of another slide or model is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.data.hdf5_read import h5_file, read_dataset
from core.errors import EvidentError

__all__ = ["FORMAT", "Evidence", "Subset", "add_scores", "check_mergeable", "coords_digest", "merge_into_file",
           "read_evidence", "write_evidence"]

FORMAT = "evident-evidence"
VERSION = 1


_SUBSET_KEYS = ("stop_reason", "coverage", "n_threshold")


def _scalar(v):
    """An HDF5 attribute value as a plain Python str / int / float."""
    if isinstance(v, bytes):
        return v.decode()
    return v.item() if isinstance(v, np.generic) else v


def coords_digest(coords: np.ndarray) -> str:
    """sha256 (hex) of (N, 2) coordinates as little-endian int64, row-major."""
    return hashlib.sha256(np.ascontiguousarray(coords, dtype="<i8").tobytes()).hexdigest()


@dataclass(frozen=True, eq=False)
class Subset:
    """An evidence subset: (K,) int64 ``indices``, ``stop_reason``, optional (M,) ``coverage``, and
    ``attrs``: further scalar attributes (str, int or float) stored with it."""

    indices: np.ndarray
    stop_reason: str = ""
    coverage: np.ndarray | None = None
    n_threshold: int | None = None
    attrs: dict[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Evidence:
    """Everything an evidence file holds (see the module docstring for shapes)."""

    slide_id: str
    coords: np.ndarray
    task: str = "classification"
    classes: tuple[str, ...] = ()
    predicted_class: int = -1
    probs: np.ndarray | None = None
    risk: np.ndarray | None = None
    value: np.ndarray | None = None
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    gates: np.ndarray | None = None
    responses: np.ndarray | None = None
    coverage: np.ndarray | None = None
    prompts: tuple[str, ...] = ()
    subsets: dict[str, Subset] = field(default_factory=dict)
    snr: dict[str, dict[str, float]] = field(default_factory=dict)
    model: str = ""
    anchor_digest: str = ""
    #: ``{score name: {attribute: str | int | float}}`` stored on ``/scores/<name>`` (may be empty).
    score_attrs: dict[str, dict[str, str | int | float]] = field(default_factory=dict)

    @property
    def n_patches(self) -> int:
        """N."""
        return int(self.coords.shape[0])


def _check(ev: Evidence, path: Path) -> None:
    n = ev.n_patches
    if ev.coords.ndim != 2 or ev.coords.shape[1] != 2:
        raise EvidentError(path, f"coords must be (N, 2), got {ev.coords.shape}")
    if set(ev.score_attrs) - set(ev.scores):
        raise EvidentError(path, f"attributes for scores the file does not hold: {sorted(set(ev.score_attrs) - set(ev.scores))}")
    for name, arr in [("gates", ev.gates), *((f"scores/{k}", v) for k, v in ev.scores.items())]:
        if arr is not None and np.asarray(arr).shape != (n,):
            raise EvidentError(path, f"{name} must have shape ({n},), got {np.asarray(arr).shape}")
    if ev.responses is not None and (np.asarray(ev.responses).ndim != 2 or np.asarray(ev.responses).shape[0] != n):
        raise EvidentError(path, f"responses must be ({n}, M), got {np.asarray(ev.responses).shape}")
    for name, s in ev.subsets.items():
        idx = np.asarray(s.indices)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise EvidentError(path, f"subset {name!r} has patch indices outside [0, {n})")


def write_evidence(path: str | os.PathLike, ev: Evidence) -> None:
    """Write ``ev`` to ``path`` atomically (validated first: nothing is written on error)."""
    import h5py  # local: h5py only when used

    p = Path(path)
    _check(ev, p)
    with atomic_path(p) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(
            format=FORMAT, version=VERSION, slide_id=ev.slide_id, n_patches=ev.n_patches,
            coords_sha256=coords_digest(ev.coords), task=ev.task, classes=json.dumps(list(ev.classes)),
            predicted_class=int(ev.predicted_class), model=ev.model, anchor_digest=ev.anchor_digest,
            prompts=json.dumps(list(ev.prompts)),
        )
        f.create_dataset("coords", data=np.asarray(ev.coords, dtype=np.int64))
        pred = f.create_group("prediction")
        if ev.probs is not None:
            pred.create_dataset("probs", data=np.asarray(ev.probs, dtype=np.float32))
        if ev.risk is not None:
            pred.create_dataset("risk", data=np.asarray(ev.risk, dtype=np.float32).reshape(-1))
        if ev.value is not None:
            pred.create_dataset("value", data=np.asarray(ev.value, dtype=np.float64).reshape(-1))
        sc = f.create_group("scores")
        for k, v in ev.scores.items():
            d = sc.create_dataset(k, data=np.asarray(v, dtype=np.float32))
            for a, av in ev.score_attrs.get(k, {}).items():
                d.attrs[a] = av
        for k in ("gates", "responses", "coverage"):
            v = getattr(ev, k)
            if v is not None:
                f.create_dataset(k, data=np.asarray(v, dtype=np.float32))
        sub = f.create_group("subsets")
        for k, s in ev.subsets.items():
            d = sub.create_dataset(k, data=np.asarray(s.indices, dtype=np.int64))
            d.attrs["stop_reason"] = s.stop_reason
            if s.coverage is not None:
                d.attrs["coverage"] = np.asarray(s.coverage, dtype=np.float64)
            if s.n_threshold is not None:
                d.attrs["n_threshold"] = int(s.n_threshold)
            for a, v in s.attrs.items():
                if a in _SUBSET_KEYS:
                    raise EvidentError(p, f"subset {k!r}: extra attribute {a!r} clashes with a standard one")
                d.attrs[a] = v
        snr = f.create_group("snr")
        for k, vals in ev.snr.items():
            g = snr.create_group(k)
            for m, v in vals.items():
                g.attrs[m] = float(v)


def read_evidence(path: str | os.PathLike, *, coords: np.ndarray | None = None) -> Evidence:
    """Read an evidence file.

    Parameters
    ----------
    coords
        (N, 2) coordinates of the bag the file should belong to; if given, a file made for another
        slide (different coordinates) is refused.

    Raises
    ------
    EvidentError
        Missing or unreadable file, not an evidence file, or coordinates of another slide.
    """
    p = Path(path)
    if not p.is_file():
        raise EvidentError(p, "evidence file not found")
    with h5_file(p) as f:
        if f.attrs.get("format") != FORMAT or "coords" not in f:
            raise EvidentError(p, "not an Evident evidence file")
        a = f.attrs
        get = lambda k: np.asarray(read_dataset(f[k], p, k)) if k in f else None  # noqa: E731
        group = lambda k: dict(f[k].items()) if k in f and hasattr(f[k], "items") else {}  # noqa: E731
        try:
            ev = Evidence(
                slide_id=str(a.get("slide_id", "")), coords=np.asarray(read_dataset(f["coords"], p, "coords"), dtype=np.int64),
                task=str(a.get("task", "")), classes=tuple(str(c) for c in _json_list(a.get("classes", "[]"))),
                predicted_class=int(a.get("predicted_class", -1)), probs=get("prediction/probs"),
                risk=get("prediction/risk"), value=get("prediction/value"),
                scores={k: np.asarray(read_dataset(v, p, f"scores/{k}")) for k, v in group("scores").items()},
                gates=get("gates"), responses=get("responses"), coverage=get("coverage"),
                prompts=tuple(str(c) for c in _json_list(a.get("prompts", "[]"))),
                subsets={
                    k: Subset(np.asarray(read_dataset(d, p, f"subsets/{k}"), dtype=np.int64),
                              str(d.attrs.get("stop_reason", "")),
                              np.asarray(d.attrs["coverage"]) if "coverage" in d.attrs else None,
                              int(d.attrs["n_threshold"]) if "n_threshold" in d.attrs else None,
                              {a: _scalar(v) for a, v in d.attrs.items() if a not in _SUBSET_KEYS})
                    for k, d in group("subsets").items()
                },
                snr={k: {m: float(v) for m, v in g.attrs.items()} for k, g in group("snr").items()},
                model=str(a.get("model", "")), anchor_digest=str(a.get("anchor_digest", "")),
                score_attrs={k: {n: _scalar(x) for n, x in v.attrs.items()} for k, v in group("scores").items()
                             if len(v.attrs)},
            )
        except (TypeError, ValueError, json.JSONDecodeError) as exc:
            raise EvidentError(p, f"damaged evidence file ({exc})") from None
    if ev.coords.ndim != 2 or ev.coords.shape[1] != 2:
        raise EvidentError(p, f"coords must be (N, 2), found shape {ev.coords.shape}")
    _check(ev, p)
    if coords is not None and coords_digest(coords) != coords_digest(ev.coords):
        raise EvidentError(p, f"evidence file belongs to another slide ({ev.slide_id!r}: coordinates differ)")
    return ev


def _json_list(text) -> list:
    value = json.loads(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON list, found {type(value).__name__}")
    return value


def add_scores(path: str | os.PathLike, method: str, scores: np.ndarray) -> None:
    """Add (or replace) ``/scores/<method>`` ((N,) float) in an existing file, atomically."""
    ev = read_evidence(path)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if s.shape[0] != ev.n_patches:
        raise EvidentError(path, f"scores for {method!r} have {s.shape[0]} values, the slide has {ev.n_patches} patches")
    attrs = {k: v for k, v in ev.score_attrs.items() if k != method}  # a replaced map's attributes go with it
    write_evidence(path, replace(ev, scores={**ev.scores, method: s}, score_attrs=attrs))


def _same_model(a: str, b: str) -> bool:
    if not a or not b or a == b:
        return True
    return os.path.realpath(a) == os.path.realpath(b)


def check_mergeable(path: str | os.PathLike, ev: Evidence) -> Evidence | None:
    """The evidence already at ``path`` when ``ev`` may be merged into it; ``None`` when there is none.

    Raises
    ------
    EvidentError
        The file is not an evidence file, or holds another slide's coordinates, task, classes or
        another model's evidence (merging would mix them): remove it or write elsewhere.
    """
    p = Path(path)
    if not p.exists():
        return None
    old = read_evidence(p, coords=ev.coords)
    fix = "; remove it or choose another --out"
    if not _same_model(old.model, ev.model):
        raise EvidentError(p, f"holds evidence of model {old.model!r}, this run's model is {ev.model!r}{fix}")
    if old.task and ev.task and old.task != ev.task:
        raise EvidentError(p, f"holds {old.task} evidence, this run's is {ev.task}{fix}")
    if old.classes and ev.classes and tuple(old.classes) != tuple(ev.classes):
        raise EvidentError(p, f"holds evidence for classes {old.classes}, this run's are {ev.classes}{fix}")
    return old


def merge_into_file(path: str | os.PathLike, ev: Evidence, replace_prefixes: tuple[str, ...] = ()) -> Evidence:
    """Write ``ev`` to ``path``, keeping what the file already holds and ``ev`` does not replace.

    Scores, subsets and S/N/R entries are merged by name (``ev``'s win; a score ``ev`` replaces takes
    ``ev``'s attributes, none when ``ev`` has none for it), except that the file's
    subsets and S/N/R entries whose names start with one of ``replace_prefixes`` are dropped (a family
    such as ``evidence_set_1..k`` is replaced whole, never mixed with an earlier run's); ``ev``'s gates,
    responses, coverage, prompts, anchors and prediction replace the file's when ``ev`` has them.
    Returns what was written.

    Raises
    ------
    EvidentError
        As :func:`check_mergeable`; nothing is written then.
    """
    old = check_mergeable(path, ev)
    if old is not None:
        keep = lambda name: getattr(ev, name) if getattr(ev, name) is not None else getattr(old, name)  # noqa: E731
        stale = lambda name: name.startswith(replace_prefixes) if replace_prefixes else False  # noqa: E731
        ev = replace(
            ev, scores={**old.scores, **ev.scores},
            score_attrs={**{k: v for k, v in old.score_attrs.items() if k not in ev.scores}, **ev.score_attrs},
            subsets={**{k: v for k, v in old.subsets.items() if not stale(k)}, **ev.subsets},
            snr={**{k: v for k, v in old.snr.items() if not stale(k)}, **ev.snr},
            gates=keep("gates"), responses=keep("responses"), coverage=keep("coverage"),
            prompts=ev.prompts or old.prompts, anchor_digest=ev.anchor_digest or old.anchor_digest,
            classes=ev.classes or old.classes, model=ev.model or old.model,
            probs=keep("probs"), risk=keep("risk"), value=keep("value"),
            predicted_class=ev.predicted_class if ev.probs is not None or ev.risk is not None else old.predicted_class,
        )
    write_evidence(path, ev)
    return ev
