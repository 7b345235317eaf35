"""Anchor sources (docs/method.md §3.1 [decision]) and the ``--anchors`` spec string.

* ``FILE`` — an anchor-bank file (``.h5``/``.hdf5``/``.npz``) of prompt embeddings computed elsewhere
  with a pathology text encoder (TITAN, CONCH); d_a may differ from the feature width d.
* ``prototypes:M`` — k-means (k = M) centroids of training patch features (d_a = d), scikit-learn
  ``KMeans`` with a fixed seed on at most ``max_samples`` patches drawn uniformly with that seed.
* exemplars — the mean feature of patches a user picked and named (:func:`exemplar_anchor`).
* ``text:PROMPTS`` — a prompt set embedded with an open_clip text tower (:mod:`core.anchors.text`,
  ``--text-encoder``); d_a must equal d (docs/bring_your_own.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.anchors import AnchorBank, read_anchor_bank
from core.errors import EvidentError

__all__ = ["AnchorSpec", "exemplar_anchor", "load_anchors", "parse_anchor_spec", "prototype_anchors"]

_PROTO = re.compile(r"^prototypes?:(\d+)$")


@dataclass(frozen=True)
class AnchorSpec:
    """A parsed ``--anchors`` value: ``kind`` is ``"file"`` (``path`` set), ``"prototypes"`` (``m`` set)
    or ``"text"`` (``path``: the prompt-set file)."""

    kind: str
    path: Path | None = None
    m: int = 0


def parse_anchor_spec(spec: str) -> AnchorSpec:
    """Parse ``FILE``, ``prototypes:M`` (M ≥ 1) or ``text:PROMPTS`` (a prompt-set file or family name).

    Raises
    ------
    EvidentError
        ``prototypes:`` with a missing or non-positive M, or a file / prompt set that does not exist.
    """
    s = str(spec).strip()
    if s.startswith("text:"):
        from core.anchors.prompts import resolve_prompt_file  # local: keeps the import graph flat

        return AnchorSpec("text", path=resolve_prompt_file(s[len("text:"):].strip()))
    if s.lower().startswith("prototype"):
        m = _PROTO.match(s.lower())
        if not m or int(m.group(1)) < 1:
            raise EvidentError(None, f"--anchors {s!r}: write prototypes:M with M ≥ 1 (e.g. prototypes:8)")
        return AnchorSpec("prototypes", m=int(m.group(1)))
    p = Path(s)
    if not p.is_file():
        raise EvidentError(p, "anchor bank not found (give a .h5/.npz bank file, prototypes:M or text:PROMPTS)")
    return AnchorSpec("file", path=p)


def prototype_anchors(
    features: np.ndarray | Iterable[np.ndarray],
    m: int,
    *,
    seed: int = 0,
    max_samples: int = 20_000,
    center: bool = False,
) -> AnchorBank:
    """k-means prototypes of training patch features.

    Parameters
    ----------
    features
        (N, d) float patch features, or an iterable of (N_b, d) arrays (one per training bag).
    m
        k = M anchors.
    seed
        Seed of the subsample and of KMeans (``n_init=4``).
    max_samples
        Patches used at most (uniform subsample without replacement).
    center
        Subtract the (subsampled) feature mean μ from the centroids (encoder ``"kmeans-centred"``).
        Features that are all positive (pixels, ReLU outputs) have high cosine similarity with every
        centroid, so every patch responds to every anchor; centred anchors with a bridge that
        subtracts μ (``build_gce(..., feature_mean=μ)``) respond selectively.

    Returns
    -------
    AnchorBank
        Prompts ``"prototype 1" … "prototype M"`` (sorted by cluster size, largest first),
        embeddings (M, d) float32, encoder ``"kmeans"``.

    Raises
    ------
    EvidentError
        Fewer distinct patches than M.
    """
    from sklearn.cluster import KMeans  # local: sklearn only when used

    x = features if isinstance(features, np.ndarray) else np.concatenate([np.asarray(f) for f in features])
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {x.shape}")
    rng = np.random.default_rng(seed)
    if x.shape[0] > max_samples:
        x = x[np.sort(rng.choice(x.shape[0], max_samples, replace=False))]
    if np.unique(x, axis=0).shape[0] < m:
        raise EvidentError(None, f"prototypes:{m} needs at least {m} distinct training patches, found fewer")
    km = KMeans(n_clusters=m, n_init=4, random_state=seed).fit(x)
    sizes = np.bincount(km.labels_, minlength=m)
    order = np.argsort(-sizes, kind="stable")
    centres = km.cluster_centers_[order]
    if center:
        centres = centres - x.mean(axis=0, dtype=np.float64)
    return AnchorBank(tuple(f"prototype {i + 1}" for i in range(m)), centres.astype(np.float32),
                      "kmeans-centred" if center else "kmeans")


def exemplar_anchor(
    bank: AnchorBank | None,
    features: np.ndarray,
    indices: Sequence[int],
    name: str,
) -> AnchorBank:
    """Add (or start a bank with) the mean feature of named patches.

    Parameters
    ----------
    bank
        The bank to extend (its d_a must equal the feature width d), or ``None`` for a new bank.
    features
        (N, d) float patch features of the slide the user picked from.
    indices
        Picked patch indices (at least one, each in [0, N)).
    name
        The concept name; becomes the anchor's prompt.

    Returns
    -------
    AnchorBank
        A new bank (encoder ``"exemplar"`` when started here); ``bank`` is left unchanged.
    """
    x = np.asarray(features, dtype=np.float32)
    idx = np.asarray(list(indices), dtype=np.int64)
    if idx.size == 0:
        raise EvidentError(None, f"exemplar {name!r}: pick at least one patch")
    if idx.min() < 0 or idx.max() >= x.shape[0]:
        raise EvidentError(None, f"exemplar {name!r}: patch index out of range [0, {x.shape[0]})")
    mean = x[idx].mean(axis=0)
    if bank is None:
        return AnchorBank((name,), mean[None], "exemplar")
    if name in bank.prompts:
        raise EvidentError(None, f"an anchor named {name!r} exists already")
    return bank.add(name, mean)


def load_anchors(spec: str | AnchorSpec, training_features=None, *, seed: int = 0,
                 text_encoder: str | None = None) -> AnchorBank:
    """Resolve an ``--anchors`` spec into a bank.

    Parameters
    ----------
    spec
        ``FILE``, ``prototypes:M`` or ``text:PROMPTS`` (or a parsed :class:`AnchorSpec`).
    training_features
        For prototypes: (N, d) array or an iterable of per-bag (N_b, d) arrays.
    text_encoder
        For text anchors: the open_clip model (:func:`core.anchors.text.resolve_text_encoder`).
    """
    s = spec if isinstance(spec, AnchorSpec) else parse_anchor_spec(spec)
    if s.kind == "file":
        return read_anchor_bank(s.path)
    if s.kind == "text":
        if not text_encoder:
            raise EvidentError(None, "text anchors need a text encoder (--text-encoder NAME|PATH)")
        from core.anchors.text import text_anchor_bank  # local: open_clip only when used

        return text_anchor_bank(s.path, text_encoder)[0]
    if training_features is None:
        raise EvidentError(None, "prototype anchors need the training patch features")
    return prototype_anchors(training_features, s.m, seed=seed)
