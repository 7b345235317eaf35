"""Tissue bags where attention is poor evidence, from real CMU-1 skin tissue (docs/results_explain.md §9b).

The same three scenarios as the digit bags (:mod:`core.train.attention_failure_data`), built from
the demo's real tissue (docs/demo.md): the 256-px windows of the CMU-1 region (20×, 0.499 µm/px)
that :mod:`core.demo.patch_classes` sorts into epidermis and dermis, plus one more real type,
encoded with the demo's encoder (``stain_texture_v1``, 89 features,
:class:`core.extract.encoders.builtin.StainTextureEncoder`). Instance types:

* ``DERMIS`` (1, :data:`core.demo.patch_classes.DERMIS`): dermis/stroma windows (the filler of every bag);
* ``EPIDERMIS`` (2, :data:`core.demo.patch_classes.EPIDERMIS`): epidermis windows (the demo's evidence);
* :data:`SPARSE` (4): *loose tissue*: windows of the demo's "unused" class with 50–75 % tissue
  (dermis needs ≥ 75 %) and little haematoxylin (``h ≤ 0.30``; no cell of epidermal density:
  ``h_max ≤ 0.40``): keratin flakes and torn stroma at the tissue's edge, with glass between them
  (the second tissue type of *conjunctive*);
* :data:`ARTEFACT` (10): an artefact made from a real dermis window (:func:`make_artefact`): a
  **pen** stroke (teal, blue or green ink multiplied over a 25–50 %-wide band), a **fold** (a band
  where the tissue lies over a mirrored copy of itself: transmittances multiply) or **blur**
  (Gaussian, σ = 6 px = 3 µm: out of focus).

Every window enters the bank under ``symmetries`` of the 8 square symmetries (rot90 × flip,
:func:`core.demo.layout.apply_symmetry`); an instance of a bag is one bank entry, drawn without
replacement within the bag (bags share windows: the benchmark is about evidence, not about
generalisation to unseen tissue). The bank is cached (:func:`tissue_bank`; ≈ 30 s to build once).

A bag is a virtual slide: its ``N`` tissue cells fill the first ``N`` cells (raster order) of a
grid of ``ceil(sqrt(N + 2))`` columns, coords = level-0 (x, y) corners of 256-px cells; evidence is
placed as *regions* (4-connected clusters, :func:`core.demo.layout.grow_cluster`) at least one cell
apart from each other:

``redundant``
    positive iff epidermis is present; a positive bag holds 3–5 separate epidermis regions of 1–2
    cells, each sufficient alone under the label rule (fewer when a small bag has no room for
    another region at least one cell away from the others). Truth: every epidermis cell.
``conjunctive``
    positive iff epidermis **and** loose tissue are present (one region of 1–3 cells each);
    negative bags hold only an epidermis region, only a loose-tissue region, or neither (a third
    each). Truth: both regions of a positive bag; ``truth_groups`` = (epidermis, loose tissue).
``shortcut``
    positive iff epidermis is present (one region of 1–3 cells). Training variant: every positive
    bag also holds 1–2 artefact cells (kinds drawn at random), no negative bag does; test variant:
    artefacts in a random half of the bags, independent of the label (the two cells after the
    tissue in raster order). Truth: the epidermis. A *shortcut bag* is a test bag whose artefacts
    disagree with its label.

``ScenarioBag.artifact_scores`` is what ``evident audit`` would compute from the slide file
(:mod:`core.diagnostics.artifacts`: the maximum of ``1 − tissue fraction`` and the pen, fold and
blur detectors, :func:`bank_artifact_parts`): the tissue fraction by the mask of each window's
16 × 16 thumbnail (:func:`core.extract.tissue.tissue_mask` at 16 level-0 px per mask pixel) placed
between two glass windows, so Otsu's threshold sees glass as on a slide; blur relative to the
median over the whole bank (the "slide").
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.demo.patch_classes import DERMIS, EPIDERMIS  # the demo's class codes (1, 2) are the instance types
from core.train.attention_failure_data import ARTEFACT, SCENARIOS, ScenarioBag

__all__ = ["ARTEFACT_KINDS", "CMU_MPP", "DERMIS", "EPIDERMIS", "SPARSE", "TYPE_NAMES", "TissueBank", "bank_artifact_parts", "bank_patches", "build_bank",
           "make_artefact", "make_tissue_scenario", "sparse_windows", "tissue_bag_label", "tissue_bank"]

SPARSE = 4  #: loose tissue (after the demo's codes: background 0, dermis 1, epidermis 2, unused 3)
TYPE_NAMES = {DERMIS: "dermis", EPIDERMIS: "epidermis", SPARSE: "loose tissue", ARTEFACT: "artefact"}
ARTEFACT_KINDS = ("pen", "fold", "blur")
BANK_VERSION = 3  # 3: artifact_scores = the combined detectors (background, pen, fold, blur)
CMU_MPP = 0.499  #: µm per pixel of the CMU-1 region
_INKS = np.array([[40, 125, 110], [45, 75, 165], [50, 135, 60]], dtype=np.float64)  # teal, blue, green (RGB)
_THUMB = 16  # level-0 px per tissue-mask pixel (what detect_tissue uses for 256-px patches)


@dataclass(frozen=True, eq=False)
class TissueBank:
    """Encoded real-tissue instances.

    Attributes
    ----------
    features
        (V, 89) float32 ``stain_texture_v1`` features.
    types
        (V,) int64 instance type (:data:`DERMIS`, :data:`EPIDERMIS`, :data:`SPARSE`, :data:`ARTEFACT`).
    windows
        (V,) int64 index of the source window in the CMU-1 catalog.
    kinds
        (V,) int64 artefact kind (index into :data:`ARTEFACT_KINDS`), −1 for tissue.
    artifact_scores
        (V,) float64 in [0, 1]: the audit's combined artifact score (module docstring).
    artifact_parts
        (V, 4) float64 in [0, 1]: its parts, columns background, pen, fold, blur
        (:class:`core.diagnostics.artifact_detectors.ArtifactParts`).
    """

    features: np.ndarray
    types: np.ndarray
    windows: np.ndarray
    kinds: np.ndarray
    artifact_scores: np.ndarray
    artifact_parts: np.ndarray

    def pool(self, t: int) -> np.ndarray:
        """(k,) int64 entries of type ``t``."""
        return np.flatnonzero(self.types == t).astype(np.int64)


def sparse_windows(catalog) -> np.ndarray:
    """(k,) int64 catalog indices of loose-tissue windows (module docstring)."""
    from core.demo.patch_classes import UNUSED

    c = catalog
    sel = (c.classes == UNUSED) & (c.tissue >= 0.5) & (c.tissue < 0.75) & (c.h <= 0.30) & (c.h_max <= 0.40)
    return np.flatnonzero(sel).astype(np.int64)


def make_artefact(patch: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """An artefact made from a real (P, P, 3) uint8 tissue patch: ``pen``, ``fold`` or ``blur`` -> (P, P, 3) uint8."""
    p = patch.astype(np.float64)
    size = patch.shape[0]
    if kind == "blur":
        from scipy.ndimage import gaussian_filter  # local: scipy is only needed to build the bank

        return np.clip(np.rint(gaussian_filter(p, sigma=(6, 6, 0), mode="reflect")), 0, 255).astype(np.uint8)
    if kind not in ("pen", "fold"):
        raise ValueError(f"unknown artefact kind {kind!r} (use one of {', '.join(ARTEFACT_KINDS)})")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = rng.uniform(0, np.pi)
    dist = (xx - size / 2) * np.cos(angle) + (yy - size / 2) * np.sin(angle) - rng.uniform(-0.2, 0.2) * size
    band = np.abs(dist) <= rng.uniform(0.125, 0.25) * size  # (P, P) bool, 25-50 % of the width
    if kind == "pen":
        over = np.broadcast_to(_INKS[rng.integers(len(_INKS))], p.shape)
    else:
        over = p[::-1, ::-1]  # the tissue folded over itself
    out = np.where(band[..., None], p * over / 255.0, p)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _audit_tissue_fraction(patches: np.ndarray, glass: np.ndarray) -> np.ndarray:
    """(B,) tissue fraction of each (B, P, P, 3) uint8 patch by the audit's rule (module docstring)."""
    from core.extract.tissue import tissue_mask  # local: pulls in scipy

    def thumb(x):  # (..., P, P, 3) -> (..., P/16, P/16, 3) block means
        s = x.shape[-2] // _THUMB
        return x.reshape(*x.shape[:-3], s, _THUMB, s, _THUMB, 3).mean(axis=(-4, -2)).round().astype(np.uint8)

    g = thumb(glass)
    out = np.empty(len(patches), dtype=np.float64)
    for i, t in enumerate(thumb(patches)):
        mask, _ = tissue_mask(np.concatenate([g, t, g], axis=1), min_object_px=(128 / _THUMB) ** 2,
                              max_hole_px=(256 / _THUMB) ** 2)
        w = g.shape[1]
        out[i] = float(mask[:, w:2 * w].mean())
    return out


def bank_patches(source: str | os.PathLike | None = None, *, symmetries: int = 8, max_windows: int | None = None,
                 n_artefacts: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pixels of the bank :func:`build_bank` encodes (same arguments).

    Returns ``(patches, types, windows, kinds, glass)``: (V, 256, 256, 3) uint8 RGB at the source's
    resolution (CMU-1: 0.499 µm/px), (V,) int64 types, source windows and artefact kinds as in
    :class:`TissueBank`, and one (256, 256, 3) uint8 glass window (the least tissue of the source).
    """
    from core.data.realdata import fetch
    from core.demo.layout import apply_symmetry
    from core.demo.patch_classes import BACKGROUND, catalog_from_slide

    rng = np.random.default_rng(seed)
    cat = catalog_from_slide(source if source is not None else fetch("cmu_slide"))
    pools = {DERMIS: cat.indices(DERMIS), EPIDERMIS: cat.indices(EPIDERMIS), SPARSE: sparse_windows(cat)}
    if max_windows is not None:
        pools = {t: w[np.linspace(0, w.size - 1, min(max_windows, w.size)).round().astype(int)] for t, w in pools.items()}
    patches, types, windows, kinds = [], [], [], []
    for t, w in pools.items():
        for i in w:
            for s in range(symmetries):
                patches.append(apply_symmetry(cat.patch(int(i)), s))
                types.append(t)
                windows.append(int(i))
                kinds.append(-1)
    for k, kind in enumerate(ARTEFACT_KINDS):
        for i in rng.choice(pools[DERMIS], n_artefacts):
            patches.append(make_artefact(np.ascontiguousarray(apply_symmetry(cat.patch(int(i)), int(rng.integers(8)))),
                                         kind, rng))
            types.append(ARTEFACT)
            windows.append(int(i))
            kinds.append(k)
    x = np.stack([np.ascontiguousarray(p) for p in patches])  # (V, 256, 256, 3) uint8
    glass = cat.patch(int(cat.indices(BACKGROUND)[np.argmin(cat.tissue[cat.indices(BACKGROUND)])]))
    return (x, np.array(types, dtype=np.int64), np.array(windows, dtype=np.int64), np.array(kinds, dtype=np.int64),
            np.ascontiguousarray(glass))


def bank_artifact_parts(patches: np.ndarray, glass: np.ndarray, mpp: float = CMU_MPP):
    """:class:`core.diagnostics.artifact_detectors.ArtifactParts` of (V, P, P, 3) uint8 bank patches.

    What ``evident audit`` computes from a slide (:func:`core.diagnostics.artifacts.slide_artifact_parts`):
    the background part by the audit's tissue rule (module docstring), the pen, fold and blur
    detectors on the pixels, blur relative to the median over the whole bank (the "slide").
    """
    from core.diagnostics.artifact_detectors import patch_artifact_parts

    background = np.clip(1.0 - _audit_tissue_fraction(patches, glass), 0.0, 1.0)
    return patch_artifact_parts(patches, mpp, background=background)


def build_bank(source: str | os.PathLike | None = None, *, symmetries: int = 8, max_windows: int | None = None,
               n_artefacts: int = 96, seed: int = 0) -> TissueBank:
    """Classify the windows of ``source`` (default: the CMU-1 region), make artefacts, encode everything.

    ``max_windows`` caps the windows per type (evenly spaced; ``None``: all); ``n_artefacts`` per kind.
    """
    from core.extract.encoders.builtin import StainTextureEncoder

    x, types, windows, kinds, glass = bank_patches(source, symmetries=symmetries, max_windows=max_windows,
                                                   n_artefacts=n_artefacts, seed=seed)
    enc = StainTextureEncoder()
    feats = np.concatenate([enc.encode(x[i:i + 64]) for i in range(0, len(x), 64)])
    parts = bank_artifact_parts(x, glass)
    return TissueBank(features=feats, types=types, windows=windows, kinds=kinds,
                      artifact_scores=parts.combined, artifact_parts=np.stack(parts, axis=1))


def default_cache() -> Path:
    """``~/.cache/evident/attention_failure``."""
    return Path.home() / ".cache" / "evident" / "attention_failure"


def tissue_bank(cache_dir: str | os.PathLike | None = None, source: str | os.PathLike | None = None, **kw) -> TissueBank:
    """:func:`build_bank`, cached in ``cache_dir`` (default :func:`default_cache`) as ``tissue_bank_<key>.npz``.

    The key hashes the source file's sha256, :data:`BANK_VERSION` and the keyword settings.
    """
    from core.atomic import atomic_path, ensure_writable_dir
    from core.data.realdata import fetch
    from core.hashing import file_sha256

    src = Path(source) if source is not None else fetch("cmu_slide")
    key = json.dumps({"v": BANK_VERSION, "src": file_sha256(src), **kw}, sort_keys=True)
    path = ensure_writable_dir(cache_dir or default_cache()) / f"tissue_bank_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            return TissueBank(**{f: z[f] for f in TissueBank.__dataclass_fields__})
    bank = build_bank(src, **kw)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{f: getattr(bank, f) for f in TissueBank.__dataclass_fields__})
    return bank


def tissue_bag_label(scenario: str, types: np.ndarray) -> int:
    """The labelling rule of ``scenario`` on (N,) instance types: 1 or 0 (artefacts never count)."""
    t = set(np.asarray(types).tolist())
    if scenario == "conjunctive":
        return int(EPIDERMIS in t and SPARSE in t)
    if scenario in ("redundant", "shortcut"):
        return int(EPIDERMIS in t)
    raise ValueError(f"unknown scenario {scenario!r} (use one of {', '.join(SCENARIOS)})")


def _regions(scenario: str, positive: bool, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``[(type, cells)]``: the evidence regions of one bag."""
    if scenario == "redundant":
        return [(EPIDERMIS, int(rng.integers(1, 3))) for _ in range(int(rng.integers(3, 6)))] if positive else []
    if scenario == "shortcut":
        return [(EPIDERMIS, int(rng.integers(1, 4)))] if positive else []
    if positive:
        return [(EPIDERMIS, int(rng.integers(1, 4))), (SPARSE, int(rng.integers(1, 4)))]
    kind = int(rng.integers(0, 3))  # only epidermis, only loose tissue, neither
    return [] if kind == 2 else [((EPIDERMIS, SPARSE)[kind], int(rng.integers(1, 4)))]


def _place(n: int, cols: int, regions: list[tuple[int, int]], rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 region id per tissue cell (−1 = filler): regions grown apart from each other (no
    two cells of different regions touch, not even at a corner); a region with no room left is
    dropped (its id then holds no cell)."""
    from core.demo.layout import grow_cluster

    rows = math.ceil(n / cols)
    tissue = (np.arange(rows * cols) < n).reshape(rows, cols)
    rid = np.full((rows, cols), -1, dtype=np.int64)
    for j, (_, size) in enumerate(regions):
        taken = rid >= 0
        near = taken.copy()  # cells of other regions and their 8 neighbours
        near[1:, :] |= taken[:-1, :]
        near[:-1, :] |= taken[1:, :]
        near[:, 1:] |= near[:, :-1].copy()
        near[:, :-1] |= near[:, 1:].copy()
        allowed = tissue & ~near
        if allowed.any():
            rid[grow_cluster(allowed, size, rng) & allowed] = j
    return rid.reshape(-1)[:n]


def make_tissue_scenario(scenario: str, n_bags: int = 60, *, min_size: int = 16, max_size: int = 32, n_folds: int = 3,
                         seed: int = 0, bank: TissueBank | None = None) -> tuple[list[ScenarioBag], list[ScenarioBag]]:
    """``(train_variant, test_variant)`` of ``n_bags`` tissue bags (module docstring); deterministic in ``seed``.

    Same contract as :func:`core.train.attention_failure_data.make_scenario`; every
    :class:`ScenarioBag` also carries ``regions`` (one (K_r,) index array per evidence region) and
    ``artifact_scores`` ((N,) float64, the audit's artifact score).
    """
    from core.data.digits import balanced_labels_and_folds

    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} (use one of {', '.join(SCENARIOS)})")
    bank = bank if bank is not None else tissue_bank()
    rng = np.random.default_rng(seed)
    labels, folds = balanced_labels_and_folds(n_bags, n_folds, rng)
    train, test = [], []
    for b in range(n_bags):
        n = int(rng.integers(min_size, max_size + 1))
        cols = math.ceil(math.sqrt(n + 2))
        regions = _regions(scenario, bool(labels[b]), rng)
        rid = _place(n, cols, regions, rng)
        types = np.full(n, DERMIS, dtype=np.int64)
        for j, (t, _) in enumerate(regions):
            types[rid == j] = t
        entries = np.empty(n, dtype=np.int64)
        for t in np.unique(types):
            entries[types == t] = rng.choice(bank.pool(int(t)), int((types == t).sum()), replace=False)
        cells = np.arange(n)
        if scenario != "shortcut":
            one = _tissue_bag(scenario, b, entries, cells, rid, cols, folds[b], bank)
            train.append(one)
            test.append(one)
            continue
        marks = rng.choice(bank.pool(ARTEFACT), int(rng.integers(1, 3)), replace=False)
        with_marks_test = bool(rng.random() < 0.5)
        for variant, has in ((train, bool(labels[b])), (test, with_marks_test)):
            e = np.concatenate([entries, marks]) if has else entries
            c = np.concatenate([cells, n + np.arange(marks.size)]) if has else cells
            r = np.concatenate([rid, np.full(marks.size, -1)]) if has else rid
            variant.append(_tissue_bag(scenario, b, e, c, r, cols, folds[b], bank,
                                       shortcut=variant is test and has != bool(labels[b])))
    return train, test


def _tissue_bag(scenario, b, entries, cells, rid, cols, fold, bank: TissueBank, shortcut: bool = False) -> ScenarioBag:
    """Wrap one bag (instances in cell order; truth and regions from the types)."""
    from core.train.gce_benchmark import Bag

    types = bank.types[entries]
    label = tissue_bag_label(scenario, types)
    needed = (EPIDERMIS, SPARSE) if scenario == "conjunctive" else (EPIDERMIS,)
    groups = tuple(np.flatnonzero(types == t).astype(np.int64) for t in needed) if label else ()
    truth = np.sort(np.concatenate(groups)) if groups else np.zeros(0, dtype=np.int64)
    regions = tuple(np.flatnonzero(rid == j).astype(np.int64) for j in np.unique(rid[rid >= 0]))
    coords = np.stack([(cells % cols) * 256, (cells // cols) * 256], axis=1).astype(np.int64)
    bag = Bag(f"tissue_{scenario}_{b:03d}", bank.features[entries], coords, label, truth, int(fold), types)
    return ScenarioBag(bag, groups, shortcut, regions=regions, artifact_scores=bank.artifact_scores[entries])
