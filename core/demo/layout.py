"""Plan the virtual slides of the demo cohort: which real patch goes in which grid cell.

A virtual slide is a ``rows x cols`` grid of 256-px cells. An irregular blob of cells (an ellipse
whose radius varies smoothly with the angle, at least one cell away from the edge) is tissue; the
rest is background (real glass patches). Tissue cells hold real dermis/stroma patches. A
**positive** slide also holds one contiguous (4-connected) cluster of real epidermis patches inside
the tissue, grown cell by cell from a random seed cell; a **negative** one holds none. Each cell
draws its source patch at random from its class and one of the 8 square symmetries (rot90 x flip).
The epidermis cells are the true evidence. Everything is determined by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.demo.patch_classes import BACKGROUND, DERMIS, EPIDERMIS, PatchCatalog

__all__ = ["SlideLayout", "apply_symmetry", "grow_cluster", "plan_cohort", "render_slide", "tissue_blob"]


@dataclass(frozen=True, eq=False)
class SlideLayout:
    """The plan of one virtual slide.

    Attributes
    ----------
    slide_id
        Identifier (``demo_01``, ...).
    label
        ``"positive"`` (holds an epidermis cluster) or ``"negative"``.
    classes
        (rows, cols) int8 class code per cell (:data:`core.demo.patch_classes.CLASSES`).
    sources
        (rows, cols) int64 index of the source candidate in the catalog.
    symmetry
        (rows, cols) int8 in 0..7: ``rot90`` by ``s % 4`` quarter turns, then a left-right flip when
        ``s >= 4``.
    fold
        Cross-validation fold (stratified by label).
    """

    slide_id: str
    label: str
    classes: np.ndarray
    sources: np.ndarray
    symmetry: np.ndarray
    fold: int

    @property
    def evidence(self) -> np.ndarray:
        """(rows, cols) bool: the epidermis cells."""
        return self.classes == EPIDERMIS


def tissue_blob(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, cols) bool: an irregular elliptical tissue region with a background margin of >= 1 cell."""
    cy, cx = (rows - 1) / 2.0, (cols - 1) / 2.0
    ay, ax = (rows / 2.0 - 1.0) * rng.uniform(0.85, 1.0), (cols / 2.0 - 1.0) * rng.uniform(0.85, 1.0)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    theta = np.arctan2((yy - cy) / ay, (xx - cx) / ax)
    wobble = np.ones_like(theta)
    for k in (2, 3, 5):
        wobble += rng.uniform(0.03, 0.08) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    r = np.hypot((yy - cy) / ay, (xx - cx) / ax)
    blob = r <= 0.92 * wobble
    blob[[0, -1], :] = False
    blob[:, [0, -1]] = False
    return blob


def grow_cluster(allowed: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Grow a 4-connected cluster of ``size`` cells inside ``allowed`` (rows, cols) bool.

    Starts from a random allowed cell whose 4 neighbours are all allowed (else any allowed cell)
    and adds a random allowed neighbour of the cluster at each step, favouring cells with more
    neighbours already in the cluster (compact, blob-like shapes). Returns (rows, cols) bool.
    """
    rows, cols = allowed.shape
    inner = allowed.copy()
    inner[1:, :] &= allowed[:-1, :]
    inner[:-1, :] &= allowed[1:, :]
    inner[:, 1:] &= allowed[:, :-1]
    inner[:, :-1] &= allowed[:, 1:]
    starts = np.argwhere(inner if inner.any() else allowed)
    out = np.zeros_like(allowed)
    r0, c0 = starts[rng.integers(len(starts))]
    out[r0, c0] = True
    while out.sum() < size:
        nb = np.zeros((rows, cols), dtype=np.int64)
        nb[1:, :] += out[:-1, :]
        nb[:-1, :] += out[1:, :]
        nb[:, 1:] += out[:, :-1]
        nb[:, :-1] += out[:, 1:]
        frontier = np.argwhere((nb > 0) & allowed & ~out)
        if len(frontier) == 0:
            break
        w = nb[frontier[:, 0], frontier[:, 1]].astype(np.float64) ** 2
        r, c = frontier[rng.choice(len(frontier), p=w / w.sum())]
        out[r, c] = True
    return out


def plan_cohort(catalog: PatchCatalog, n_slides: int, grid: tuple[int, int], seed: int,
                evidence_fraction: tuple[float, float] = (0.06, 0.15), n_folds: int = 4) -> list[SlideLayout]:
    """Plan ``n_slides`` virtual slides, half of them positive (rounded down), in a seeded order.

    Parameters
    ----------
    catalog
        Classified real patches.
    n_slides
        Number of slides (>= 2).
    grid
        ``(rows, cols)`` cells per slide (each >= 4).
    seed
        Seed of everything random.
    evidence_fraction
        ``(lo, hi)``: a positive slide's cluster covers a uniform fraction of its tissue cells in
        this range (at least 2 cells).
    n_folds
        Folds assigned round-robin within each label after a seeded shuffle.
    """
    rows, cols = (int(v) for v in grid)
    if n_slides < 2 or rows < 4 or cols < 4:
        raise ValueError(f"need >= 2 slides of >= 4 x 4 cells, got {n_slides} slides of {rows} x {cols}")
    rng = np.random.default_rng(seed)
    labels = np.array(["negative"] * (n_slides - n_slides // 2) + ["positive"] * (n_slides // 2))
    labels = labels[rng.permutation(n_slides)]
    folds = np.zeros(n_slides, dtype=np.int64)
    for lab in ("negative", "positive"):
        idx = np.flatnonzero(labels == lab)
        folds[idx] = (np.arange(len(idx)) + rng.integers(n_folds)) % n_folds
    pools = {code: catalog.indices(code) for code in (BACKGROUND, DERMIS, EPIDERMIS)}
    width = max(2, len(str(n_slides)))
    out = []
    for i, label in enumerate(labels):
        tissue = tissue_blob(rows, cols, rng)
        classes = np.where(tissue, DERMIS, BACKGROUND).astype(np.int8)
        if label == "positive":
            n_tissue = int(tissue.sum())
            size = max(2, round(float(rng.uniform(*evidence_fraction)) * n_tissue))
            classes[grow_cluster(tissue, size, rng)] = EPIDERMIS
        sources = np.zeros((rows, cols), dtype=np.int64)
        for code, pool in pools.items():
            m = classes == code
            sources[m] = pool[rng.integers(len(pool), size=int(m.sum()))]
        symmetry = rng.integers(8, size=(rows, cols)).astype(np.int8)
        out.append(SlideLayout(slide_id=f"demo_{i + 1:0{width}d}", label=str(label), classes=classes,
                               sources=sources, symmetry=symmetry, fold=int(folds[i])))
    return out


def apply_symmetry(patch: np.ndarray, s: int) -> np.ndarray:
    """Apply square symmetry ``s`` in 0..7 to a (P, P, 3) patch: ``rot90`` ``s % 4`` times, then flip if ``s >= 4``."""
    out = np.rot90(patch, int(s) % 4)
    return out[:, ::-1] if s >= 4 else out


def render_slide(layout: SlideLayout, catalog: PatchCatalog) -> np.ndarray:
    """Assemble the level-0 image of a slide: (rows * P, cols * P, 3) uint8, P = catalog patch size."""
    p = catalog.patch_size
    rows, cols = layout.classes.shape
    img = np.empty((rows * p, cols * p, 3), dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            img[r * p:(r + 1) * p, c * p:(c + 1) * p] = apply_symmetry(
                catalog.patch(int(layout.sources[r, c])), int(layout.symmetry[r, c]))
    return img
