"""Per-patch artifact scores for the failure taxonomy's ``artifact_evidence`` flag (docs/method.md §5).

The score of a patch is ``1 − tissue fraction``: the share of its level-0 square that the slide's
tissue mask (:func:`core.extract.tissue.detect_tissue`, the same detector feature extraction
uses) calls background -- glass, scanner fill, very dark ink or folds. A feature bag carries no
per-patch tissue or artifact field (docs/data.md), so the score needs the slide file.

**[decision]** A selected patch counts as artifact when its tissue fraction is below ``min_tissue``
(default 0.5, the extraction's own tissue threshold); a slide gets the flag when more than
``artifact_share`` (default 0.5) of its evidence subset is artifact
(:class:`core.diagnostics.failures.FailureThresholds`).
"""

from __future__ import annotations

import os

import numpy as np

from core.errors import EvidentError

__all__ = ["artifact_share", "slide_artifact_scores"]


def slide_artifact_scores(slide_path: str | os.PathLike, coords: np.ndarray, patch_size_level0: int) -> np.ndarray:
    """``1 − tissue fraction`` of every patch of a bag, from the slide's tissue mask.

    Parameters
    ----------
    slide_path
        The slide the bag was cut from (any format :func:`core.slide.reader.open_slide` reads).
    coords
        (N, 2) int level-0 (x, y) top-left corners.
    patch_size_level0
        Patch side in level-0 pixels.

    Returns
    -------
    np.ndarray
        (N,) float64 in [0, 1]; 1 = no tissue at all.

    Raises
    ------
    EvidentError
        The slide cannot be opened, or patches lie outside it (the bag is not from this slide).
    """
    from core.extract.tissue import detect_tissue, patch_tissue_fraction  # local: pulls in scipy
    from core.slide.reader import open_slide  # local: pulls in openslide

    c = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    size = int(patch_size_level0)
    if size <= 0:
        raise EvidentError(slide_path, f"patch size must be positive, got {patch_size_level0}")
    with open_slide(slide_path) as reader:
        width, height = (int(v) for v in reader.dimensions)
        outside = (c[:, 0] < 0) | (c[:, 1] < 0) | (c[:, 0] >= width) | (c[:, 1] >= height)
        if outside.any():
            raise EvidentError(slide_path, f"{int(outside.sum())} of {len(c)} patches lie outside the slide "
                                           f"({width} × {height} px): the bag does not come from this slide")
        tissue = detect_tissue(reader, downsample=max(1.0, size / 16.0))
    frac = patch_tissue_fraction(tissue, c, size)  # (N,) float32
    return np.clip(1.0 - frac.astype(np.float64), 0.0, 1.0)


def artifact_share(evidence: np.ndarray, artifact_scores: np.ndarray, min_tissue: float = 0.5) -> float:
    """Share of the evidence patches ((K,) int) whose tissue fraction is below ``min_tissue``.

    ``artifact_scores`` is (N,) float ``1 − tissue fraction``; NaN for an empty evidence set.
    """
    idx = np.asarray(evidence, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        return float("nan")
    return float(np.mean(np.asarray(artifact_scores, dtype=np.float64)[idx] > 1.0 - min_tissue))
