"""Build (once, cached) the demo cohort: pyramidal TIFF virtual slides assembled from real skin tissue.

Real 256-px patches of the CMU-1 region are classified into epidermis / dermis / background
(:mod:`core.demo.patch_classes`) and placed on a grid (:mod:`core.demo.layout`): a positive slide
holds one contiguous cluster of epidermis patches among dermis patches, a negative one only dermis
(both inside a background margin). The epidermis cells are the known evidence.

Files written under ``ROOT`` (every one atomically; ``cohort.json`` last, so its presence marks a
finished build)::

    slides/<id>.tiff          pyramidal tiled JPEG TIFF, 20x, 0.499 µm/px, OpenSlide >= 2 levels
    annotations/<id>.geojson  QuPath GeoJSON: the epidermis cells merged into one "Epidermis" region
                              (an empty FeatureCollection for negative slides)
    thumbnails/<id>.png       small overview
    manifest.csv              slide_id, case_id, label, fold, slide_path (relative to ROOT)
    truth.json                per slide: label, the class of every cell, evidence cell coordinates
    cohort.json               the configuration, source sha256 and slide list (the cache key)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_path, atomic_write_json, ensure_writable_dir
from core.data.manifest import ManifestRow, write_manifest
from core.data.realdata import fetch
from core.demo.layout import SlideLayout, plan_cohort, render_slide
from core.demo.patch_classes import CLASSES, EPIDERMIS, catalog_from_slide
from core.demo.tiff_writer import write_pyramid_tiff
from core.errors import EvidentError
from core.hashing import file_sha256

__all__ = ["COHORT_VERSION", "EVIDENCE_CLASS", "DemoCohort", "CohortConfig", "build_cohort", "read_truth"]

COHORT_VERSION = 1
EVIDENCE_CLASS = "Epidermis"
_THUMB_MAX = 512  # thumbnail: the first pyramid level whose longer side is at most this
_CELL_CHARS = "BDE"  # background, dermis, epidermis in truth.json's cell maps


@dataclass(frozen=True)
class CohortConfig:
    """How the cohort is built (every field is part of the cache key).

    Attributes
    ----------
    n_slides
        Number of virtual slides (half positive, rounded down).
    grid
        ``(rows, cols)`` of 256-px cells per slide.
    seed
        Seed of the layout (labels, shapes, clusters, patch choice, symmetries).
    patch_size
        Cell side in level-0 pixels.
    evidence_fraction
        Range of the fraction of tissue cells a positive slide's epidermis cluster covers.
    n_folds
        Cross-validation folds written to the manifest.
    quality
        JPEG quality of the tiles.
    """

    n_slides: int = 16
    grid: tuple[int, int] = (16, 16)
    seed: int = 0
    patch_size: int = 256
    evidence_fraction: tuple[float, float] = (0.06, 0.15)
    n_folds: int = 4
    quality: int = 85


@dataclass(frozen=True)
class DemoCohort:
    """A built cohort.

    Attributes
    ----------
    root
        Its folder.
    manifest
        ``ROOT/manifest.csv``.
    truth
        ``ROOT/truth.json``.
    slide_ids
        The slides, in manifest order.
    labels
        Slide id -> ``"positive"`` / ``"negative"``.
    rebuilt
        Whether this call wrote it (False: reused from the cache).
    """

    root: Path
    manifest: Path
    truth: Path
    slide_ids: tuple[str, ...]
    labels: dict[str, str]
    rebuilt: bool

    def slide_path(self, slide_id: str) -> Path:
        return self.root / "slides" / f"{slide_id}.tiff"

    def annotation_path(self, slide_id: str) -> Path:
        return self.root / "annotations" / f"{slide_id}.geojson"




def _key(config: CohortConfig, source_sha: str) -> dict:
    return {"version": COHORT_VERSION, "config": asdict(config), "source_sha256": source_sha}


def _cached(root: Path, key: dict) -> DemoCohort | None:
    try:
        doc = json.loads((root / "cohort.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or {k: doc.get(k) for k in key} != json.loads(json.dumps(key)):
        return None
    labels = {str(k): str(v) for k, v in doc.get("labels", {}).items()}
    ids = tuple(labels)
    needed = [root / "manifest.csv", root / "truth.json"]
    needed += [root / sub / f"{i}.{ext}" for i in ids for sub, ext in (("slides", "tiff"), ("annotations", "geojson"))]
    if not ids or not all(p.exists() for p in needed):
        return None
    return DemoCohort(root=root, manifest=root / "manifest.csv", truth=root / "truth.json", slide_ids=ids,
                  labels=labels, rebuilt=False)


def _evidence_annotations(layout: SlideLayout, p: int) -> list:
    import shapely  # local: shapely only when used
    from shapely.geometry import box  # local: shapely only when used

    from core.data.annotations import Annotation  # local: pulls in shapely

    cells = np.argwhere(layout.evidence)  # (K, 2) int64 (row, col)
    if len(cells) == 0:
        return []
    geom = shapely.union_all([box(c * p, r * p, (c + 1) * p, (r + 1) * p) for r, c in cells])
    return [Annotation(geometry=geom, classification=EVIDENCE_CLASS, name=f"{layout.slide_id} epidermis",
                       properties={"n_cells": len(cells), "source": "evident demo truth"})]


def _write_thumbnail(path: Path, image: np.ndarray) -> None:
    """Write (h, w, 3) uint8 ``image`` as PNG."""
    from PIL import Image  # local: PIL only when used

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", compress_level=1)


def build_cohort(root: str | os.PathLike, config: CohortConfig = CohortConfig(), *,
                 source: str | os.PathLike | None = None, rebuild: bool = False, progress: bool = True) -> DemoCohort:
    """Build the cohort under ``root`` unless an identical build is cached there.

    Parameters
    ----------
    root
        Output folder (created when missing).
    config
        Cohort configuration.
    source
        The real slide to take patches from; default the CMU-1 region (fetched and verified).
    rebuild
        Build even when a matching cohort exists.
    progress
        Show a tqdm bar.

    Raises
    ------
    EvidentError
        Unreadable source, a source lacking a tissue class, or an unwritable folder.
    """
    from tqdm import tqdm  # local: tqdm only when used

    from core.data.annotations import write_geojson  # local: pulls in shapely

    root = ensure_writable_dir(root)
    src = Path(source) if source is not None else fetch("cmu_slide")
    if not src.is_file():
        raise EvidentError(src, "source slide not found")
    key = _key(config, file_sha256(src))
    if not rebuild:
        hit = _cached(root, key)
        if hit is not None:
            return hit
    (root / "cohort.json").unlink(missing_ok=True)  # an interrupted rebuild is never taken as finished
    catalog = catalog_from_slide(src, patch_size=config.patch_size)
    with _open(src) as r:
        mpp = r.mpp or 0.499
    layouts = plan_cohort(catalog, config.n_slides, config.grid, config.seed, config.evidence_fraction,
                          config.n_folds)
    for sub in ("slides", "annotations", "thumbnails"):
        ensure_writable_dir(root / sub)
    rows, truth = [], {}
    p = config.patch_size
    for lay in tqdm(layouts, desc="cohort", unit="slide", disable=not progress, leave=False):
        image = render_slide(lay, catalog)  # (rows*p, cols*p, 3) uint8
        levels: list[np.ndarray] = []
        write_pyramid_tiff(root / "slides" / f"{lay.slide_id}.tiff", image, mpp, tile=256,
                           quality=config.quality, description=f"Evident demo slide {lay.slide_id} ({lay.label})",
                           on_level=lambda _d, lvl, keep=levels.append: keep(lvl))
        write_geojson(root / "annotations" / f"{lay.slide_id}.geojson", _evidence_annotations(lay, p))
        thumb = next((lvl for lvl in levels if max(lvl.shape[:2]) <= _THUMB_MAX), levels[-1])
        _write_thumbnail(root / "thumbnails" / f"{lay.slide_id}.png", thumb)
        rows.append(ManifestRow(slide_id=lay.slide_id, case_id=lay.slide_id, label=lay.label, fold=lay.fold,
                                slide_path=f"slides/{lay.slide_id}.tiff"))
        ev = np.argwhere(lay.evidence)  # (K, 2) (row, col)
        truth[lay.slide_id] = {
            "label": lay.label,
            "cells": ["".join(_CELL_CHARS[v] for v in row) for row in lay.classes],
            "evidence_coords": [[int(c * p), int(r * p)] for r, c in ev],
        }
    write_manifest(root / "manifest.csv", rows)
    atomic_write_json(root / "truth.json", {
        "patch_size_level0": p, "grid": list(config.grid), "mpp": mpp,
        "cell_classes": {ch: CLASSES[i] for i, ch in enumerate(_CELL_CHARS)}, "evidence_class": CLASSES[EPIDERMIS],
        "slides": truth})
    labels = {lay.slide_id: lay.label for lay in layouts}
    counts = {CLASSES[c]: int((catalog.classes == c).sum()) for c in range(len(CLASSES))}
    atomic_write_json(root / "cohort.json", {**key, "source": str(src), "candidate_patches": counts,
                                             "labels": labels})
    return DemoCohort(root=root, manifest=root / "manifest.csv", truth=root / "truth.json",
                  slide_ids=tuple(labels), labels=labels, rebuilt=True)


def _open(path: Path):
    from core.slide.reader import open_slide  # local: pulls in openslide

    return open_slide(path)


def read_truth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``truth.json``: slide id -> (K, 2) int64 level-0 (x, y) corners of the evidence cells.

    Raises
    ------
    EvidentError
        When the file is missing or not a demo truth file.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return {str(k): np.asarray(v["evidence_coords"], dtype=np.int64).reshape(-1, 2)
                for k, v in doc["slides"].items()}
    except FileNotFoundError:
        raise EvidentError(p, "truth file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvidentError(p, f"not a demo truth file ({exc})") from None
