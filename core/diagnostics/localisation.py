"""Evidence against region annotations (docs/explanations.md §3).

Inputs per slide: scores (N,), the patch truth mask (N,) bool from
:func:`core.data.annotations.patch_labels` (≥ 1 % overlap), and the patch coordinates (N, 2) with the
patch size (level 0) to lay the patches on a grid. Every number comes with its chance level.

* Dice on the patch grid at a fixed threshold (chosen on a validation split by the caller);
* FROC: connected components (8-connectivity) of the binarised grid are candidates scored by their
  max patch score; a candidate hits a lesion (a connected component of the truth grid) when they
  share a patch; sensitivity (fraction of lesions hit) averaged at 1/8 … 8 false positives per slide;
* annotation coverage ``|B ∩ A| / |A|`` and saliency precision ``|B ∩ A| / |B|`` with B the top-k %
  of the scores (chance: the annotated fraction, resp. k %);
* relevance mass inside A: Σ positive scores in A / Σ positive scores (chance: annotated fraction).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FP_RATES", "coverage_precision", "dice", "froc", "patch_rows_cols", "relevance_mass"]

FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def patch_rows_cols(coords: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) level-0 corners -> (N,) rows and (N,) cols on the patch grid (int64, from 0)."""
    g = np.floor_divide(np.asarray(coords, dtype=np.int64), int(patch_size))
    g -= g.min(axis=0)
    return g[:, 1], g[:, 0]


def dice(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    """Dice of ``scores ≥ threshold`` against ``truth`` (N,) bool; chance: Dice of a random mask of the same size."""
    p, t = np.asarray(scores) >= threshold, np.asarray(truth, dtype=bool)
    denom = p.sum() + t.sum()
    d = 2.0 * (p & t).sum() / denom if denom else 1.0
    chance = 2.0 * p.mean() * t.sum() / denom if denom else 1.0
    return {"dice": float(d), "dice_chance": float(chance)}


def coverage_precision(scores: np.ndarray, truth: np.ndarray, top_fraction: float = 0.05) -> dict:
    """Annotation coverage and saliency precision of the top ``top_fraction`` of patches (≥ 1 patch)."""
    s, t = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    k = max(1, int(np.ceil(top_fraction * s.size)))
    b = np.zeros(s.size, dtype=bool)
    b[np.argsort(-s, kind="stable")[:k]] = True
    hit = (b & t).sum()
    return {"coverage": float(hit / t.sum()) if t.any() else float("nan"), "coverage_chance": float(k / s.size),
            "precision": float(hit / k), "precision_chance": float(t.mean())}


def relevance_mass(scores: np.ndarray, truth: np.ndarray) -> dict:
    """Σ positive scores inside the annotation / Σ positive scores; chance = annotated fraction."""
    pos = np.clip(np.asarray(scores, dtype=np.float64), 0, None)
    t = np.asarray(truth, dtype=bool)
    return {"relevance_mass": float(pos[t].sum() / pos.sum()) if pos.sum() > 0 else float("nan"),
            "relevance_mass_chance": float(t.mean())}


def _grid(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, fill=0) -> np.ndarray:
    g = np.full((rows.max() + 1, cols.max() + 1), fill, dtype=values.dtype)
    g[rows, cols] = values
    return g


def froc(slides: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], threshold: float, fp_rates=FP_RATES) -> dict:
    """FROC over slides, each ``(scores (N,), truth (N,) bool, coords (N, 2), patch_size)``.

    Returns ``sensitivity_at`` (one per FP rate), ``mean_sensitivity`` and the chance level from
    scores shuffled within each slide (seed 0).
    """
    from scipy import ndimage  # local: scipy only when used

    def curve(all_slides) -> list[float]:
        cands, n_lesions = [], 0  # (score, slide, hit-lesion-ids)
        for si, (s, t, c, ps) in enumerate(all_slides):
            rows, cols = patch_rows_cols(c, ps)
            lesions, nl = ndimage.label(_grid(rows, cols, np.asarray(t, dtype=bool)), structure=np.ones((3, 3)))
            n_lesions += nl
            sg = _grid(rows, cols, np.asarray(s, dtype=np.float64), fill=-np.inf)
            comps, nc = ndimage.label(sg >= threshold, structure=np.ones((3, 3)))
            for ci in range(1, nc + 1):
                m = comps == ci
                cands.append((float(sg[m].max()), si, set(np.unique(lesions[m]).tolist()) - {0}))
        if n_lesions == 0:
            return [float("nan")] * len(fp_rates)
        cands.sort(key=lambda r: -r[0])
        hit: set = set()
        fps, sens, out = 0, [], []
        for _score, si, ids in cands:
            if ids:
                hit |= {(si, i) for i in ids}
            else:
                fps += 1
            sens.append((fps / len(all_slides), len(hit) / n_lesions))
        for rate in fp_rates:
            ok = [v for f, v in sens if f <= rate]
            out.append(max(ok) if ok else 0.0)
        return out

    at = curve(slides)
    rng = np.random.default_rng(0)
    chance = curve([(rng.permutation(np.asarray(s)), t, c, ps) for s, t, c, ps in slides])
    return {"sensitivity_at": dict(zip(fp_rates, at)), "mean_sensitivity": float(np.mean(at)),
            "mean_sensitivity_chance": float(np.mean(chance))}
