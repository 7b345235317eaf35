"""Per-patch detectors of tissue-coloured artefacts: pen ink, tissue folds, out-of-focus blur.

The audit's background score (``1 − tissue fraction``, :mod:`core.diagnostics.artifacts`) sees
glass and very dark ink but not artefacts that lie *over* tissue. Each detector here maps the RGB
pixels of a patch to a score in [0, 1]; the audit calls a patch artifact when its combined score
(:class:`ArtifactParts`, the maximum of the parts) exceeds 0.5 (docs/results_explain.md §9b).
Qt-free; numpy and scipy only.

Inputs: patches as (B, H, W, 3) uint8 RGB at a known resolution ``mpp`` (µm per pixel).
:func:`detector_measures` (what the audit uses) first block-averages them to :data:`BLUR_MPP`
µm/px, so the blur measure means the same at 20× and 40× and the colour rules see 1-µm means;
:func:`pen_mask`/:func:`fold_mask` also work on any pixels as given.

**[decision]** share-type scores (pen, fold): a patch is marked when the rule's pixels cover more
than :data:`MARKED_SHARE` (10 %) of it; the score is ``min(1, share / (2 · MARKED_SHARE))`` so
that 0.5 falls exactly there. Neither this share nor any rule below was tuned on the attention-
failure benchmark's artefacts (the rules are the published ones; the shares are round numbers
chosen before measuring; :data:`FOLD_MARGIN` was set on clean tissue only, see :func:`fold_mask`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

__all__ = ["ArtifactParts", "BLUR_MPP", "FOLD_MARGIN", "MARKED_SHARE", "blur_scores", "detector_measures", "fold_mask",
           "fold_scores", "laplacian_variance", "resample", "pen_mask", "pen_scores", "patch_artifact_parts"]

MARKED_SHARE = 0.10  #: share of a patch's pixels above which a share-type detector calls it marked (score 0.5)
FOLD_MARGIN = 0.5  #: a pixel is fold when its HSV saturation exceeds its value by this much (:func:`fold_mask`)
BLUR_MPP = 1.0  #: µm per pixel at which the variance of the Laplacian is measured
BLUR_RATIO = 10.0  #: a patch this many times less sharp than the slide's median scores 1 (0.5 at √10 ≈ 3.2×)
MIN_TISSUE_PIXELS = 0.25  #: share of stained pixels a patch needs for a blur measure (else blur score 0)

# deep-histopath (Spark/CODAIT, deephistopath/wsi/filter.py, used as histolab's FilterBluePen /
# FilterGreenPen): a pixel is blue pen when, for one row, R < r and G < g and B > b ...
_BLUE_PEN = ((60, 120, 190), (120, 170, 200), (175, 210, 230), (145, 180, 210), (37, 95, 160), (30, 65, 130),
             (130, 155, 180), (40, 35, 85), (30, 20, 65), (90, 90, 140), (60, 60, 120), (110, 110, 175),
             (100, 100, 150))
# ... and green pen when, for one row, R < r and G > g and B > b.
_GREEN_PEN = ((150, 160, 140), (70, 110, 110), (45, 115, 100), (30, 75, 60), (195, 220, 210), (225, 230, 225),
              (170, 210, 200), (20, 30, 20), (50, 60, 40), (30, 50, 35), (65, 70, 60), (100, 110, 105),
              (165, 180, 180), (140, 140, 150), (185, 195, 195), (130, 80, 90))


class ArtifactParts(NamedTuple):
    """Per-patch artifact scores, each (N,) float64 in [0, 1] (1 = artefact beyond doubt).

    ``background``: ``1 − tissue fraction`` of the slide's tissue mask; ``pen``: :func:`pen_scores`;
    ``fold``: :func:`fold_scores`; ``blur``: :func:`blur_scores`. :attr:`combined` is their maximum,
    the score the audit's ``artifact_evidence`` rule compares with ``1 − min_tissue``.
    """

    background: np.ndarray
    pen: np.ndarray
    fold: np.ndarray
    blur: np.ndarray

    @property
    def combined(self) -> np.ndarray:
        """(N,) float64 maximum of the parts."""
        return np.max(np.stack([np.asarray(p, dtype=np.float64) for p in self]), axis=0)

    def dominant(self) -> np.ndarray:
        """(N,) str: the name of the part that gives :attr:`combined` (the first on ties)."""
        names = np.array(self._fields)
        return names[np.argmax(np.stack([np.asarray(p, dtype=np.float64) for p in self]), axis=0)]


def _share_score(mask: np.ndarray) -> np.ndarray:
    """(B, H, W) bool -> (B,) float64 ``min(1, share / (2 · MARKED_SHARE))``."""
    share = mask.reshape(mask.shape[0], -1).mean(axis=1)
    return np.clip(share / (2.0 * MARKED_SHARE), 0.0, 1.0)


def _pen_rule(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(r.shape, g.shape, b.shape), dtype=bool)
    for tr, tg, tb in _BLUE_PEN:
        out |= (r < tr) & (g < tg) & (b > tb)
    for tr, tg, tb in _GREEN_PEN:
        out |= (r < tr) & (g > tg) & (b > tb)
    return out


def _fold_rule(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mx = np.maximum(np.maximum(r, g), b).astype(np.float64)
    mn = np.minimum(np.minimum(r, g), b).astype(np.float64)
    s = np.divide(mx - mn, mx, out=np.zeros(mx.shape), where=mx > 0)
    return s - mx / 255.0 > FOLD_MARGIN


@functools.lru_cache(maxsize=1)
def _colour_table() -> np.ndarray:
    """(2**24,) uint8 per RGB colour: bit 0 pen ink, bit 1 fold (built once, 16 MB, ≈ 1 s)."""
    out = np.empty((256, 256, 256), dtype=np.uint8)
    g, b = np.meshgrid(np.arange(256, dtype=np.int16), np.arange(256, dtype=np.int16), indexing="ij")
    for r in range(256):
        rr = np.int16(r)
        out[r] = _pen_rule(rr, g, b).astype(np.uint8) | (_fold_rule(rr, g, b).astype(np.uint8) << 1)
    return out.reshape(-1)


def _colour_bits(patches: np.ndarray) -> np.ndarray:
    x = np.asarray(patches)
    if x.ndim != 4 or x.shape[-1] < 3 or x.dtype != np.uint8:
        raise ValueError(f"patches must be (B, H, W, 3) uint8 RGB, got {x.dtype} {x.shape}")
    key = (x[..., 0].astype(np.int32) << 16) | (x[..., 1].astype(np.int32) << 8) | x[..., 2]
    return _colour_table()[key]


def pen_mask(patches: np.ndarray) -> np.ndarray:
    """(B, H, W) bool: pixels whose colour is blue or green marker ink.

    The rules are deep-histopath's ``filter_blue_pen`` and ``filter_green_pen`` (Spark/CODAIT,
    https://github.com/CODAIT/deep-histopath, ``deephistopath/wsi/filter.py``; the same thresholds
    are histolab's ``FilterBluePen``/``FilterGreenPen``), unchanged: a union of RGB boxes per ink
    (evaluated through a table over all 2²⁴ colours). Very dark (black) ink has no colour rule; the
    tissue mask calls it background (:func:`core.extract.tissue.tissue_mask`, ``dark_value``).
    """
    return (_colour_bits(patches) & 1).astype(bool)


def pen_scores(patches: np.ndarray) -> np.ndarray:
    """(B,) float64 in [0, 1]: pen-ink share of each (B, H, W, 3) uint8 patch (module docstring's scale)."""
    return _share_score(pen_mask(patches))


def fold_mask(patches: np.ndarray) -> np.ndarray:
    """(B, H, W) bool: fold pixels, dark and highly saturated: S − V > :data:`FOLD_MARGIN` in HSV.

    A fold stacks two layers of tissue, so its transmittances multiply: the pixel darkens (V falls)
    while its colour deepens (S rises). Bautista & Yagi, "Detection of tissue folds in whole slide
    images", IEEE EMBC 2009, and Kothari et al., "Eliminating tissue-fold artifacts in
    histopathological whole-slide images for improved image-based prediction of cancer grade",
    J Pathol Inform 2013, separate folds by this saturation−intensity difference (HistoQC has no
    fold module). **[decision]** the threshold is :data:`FOLD_MARGIN` (S and V in [0, 1]), the
    lowest multiple of 0.1 at which no clean dermis or epidermis window of the CMU-1 bank is marked
    (at 0.3 every epidermis window is: dense epidermis is as dark and saturated as a fold of
    dermis, so colour alone cannot tell them apart; docs/results_explain.md §9b). Chosen on clean
    tissue only, never on the planted folds.
    """
    return (_colour_bits(patches) & 2).astype(bool)


def fold_scores(patches: np.ndarray) -> np.ndarray:
    """(B,) float64 in [0, 1]: fold-pixel share of each (B, H, W, 3) uint8 patch (module docstring's scale)."""
    return _share_score(fold_mask(patches))


def resample(patches: np.ndarray, mpp: float | None) -> np.ndarray:
    """(B, H, W, 3) uint8 at ``mpp`` µm/px -> (B, h, w, 3) uint8 block means at ≈ :data:`BLUR_MPP` µm/px.

    The block is ``round(BLUR_MPP / mpp)`` pixels (1, i.e. unchanged, when ``mpp`` is unknown or
    already coarser).
    """
    x = np.asarray(patches)[..., :3]
    f = max(1, int(round(BLUR_MPP / mpp))) if mpp else 1
    if f == 1:
        return np.ascontiguousarray(x, dtype=np.uint8)
    b, h, w = x.shape[0], x.shape[1] // f * f, x.shape[2] // f * f
    total = x[:, :h, :w].reshape(b, h // f, f, w // f, f, 3).sum(axis=(2, 4), dtype=np.uint32)
    return ((total + f * f // 2) // (f * f)).astype(np.uint8)  # rounded block means


def laplacian_variance(patches: np.ndarray, mpp: float | None) -> np.ndarray:
    """(B,) float64 variance of the Laplacian of the grey image over the stained pixels, at :data:`BLUR_MPP`.

    The focus measure of Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy: a
    comparative study", ICPR 2000 (the variance of the Laplacian; HistoQC's BlurDetectionModule
    thresholds the same Laplacian's magnitude). The patches (B, H, W, 3) uint8 at ``mpp`` µm/px
    are brought to :data:`BLUR_MPP` by :func:`resample`, converted to grey in [0, 1], and the
    Laplacian's variance taken over interior pixels of saturation ≥ 20 (the tissue mask's floor:
    glass excluded). NaN when fewer than :data:`MIN_TISSUE_PIXELS` of the pixels are stained.
    """
    return _laplacian_variance(resample(patches, mpp))


def _laplacian_variance(x: np.ndarray) -> np.ndarray:
    from scipy.ndimage import laplace  # local: scipy is heavy to import

    from core.extract.tissue import saturation

    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / np.float32(255.0)  # (B, h, w)
    stained = saturation(x)[:, 1:-1, 1:-1] >= 20
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        keep = stained[i]
        if keep.mean() >= MIN_TISSUE_PIXELS:
            out[i] = float(laplace(grey[i], mode="reflect")[1:-1, 1:-1][keep].var())
    return out


def detector_measures(patches: np.ndarray, mpp: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pen, fold, laplacian_variance)``, each (B,), of (B, H, W, 3) uint8 patches at ``mpp`` µm/px.

    All three on one :func:`resample` to :data:`BLUR_MPP` (the colour rules then see 1-µm block
    means: ink and folds are far wider than that); blur still needs the slide's reference
    (:func:`blur_scores`).
    """
    x = resample(patches, mpp)
    bits = _colour_bits(x)
    return _share_score((bits & 1).astype(bool)), _share_score((bits & 2).astype(bool)), _laplacian_variance(x)


def blur_scores(lap_var: np.ndarray, reference: float | None = None) -> np.ndarray:
    """(B,) float64 in [0, 1]: how much less sharp each patch is than the slide.

    ``lap_var`` is (B,) :func:`laplacian_variance`; ``reference`` the slide's typical value
    (default: the median over ``lap_var``'s finite entries: the slide's tissue patches), since
    absolute sharpness depends on stain, tissue and scanner. Score
    ``clip(log(reference / lap_var) / log(BLUR_RATIO), 0, 1)``: 0 at or above the reference,
    0.5 at ``reference / √BLUR_RATIO``, 1 at ``reference / BLUR_RATIO`` or below. NaN entries
    (too little stained tissue to judge) score 0.
    """
    v = np.asarray(lap_var, dtype=np.float64)
    ok = np.isfinite(v)
    ref = float(np.median(v[ok])) if reference is None and ok.any() else reference
    out = np.zeros(v.shape)
    if ref is None or not np.isfinite(ref) or ref <= 0:
        return out
    with np.errstate(divide="ignore"):
        ratio = np.log(ref / np.maximum(v[ok], 1e-300)) / np.log(BLUR_RATIO)
    out[ok] = np.clip(ratio, 0.0, 1.0)
    return out


def patch_artifact_parts(patches: np.ndarray, mpp: float | None, background: np.ndarray | None = None,
                         blur_reference: float | None = None) -> ArtifactParts:
    """All detectors (:func:`detector_measures`) on (B, H, W, 3) uint8 patches at ``mpp`` µm/px.

    ``background`` is (B,) ``1 − tissue fraction`` (default zeros); ``blur_reference`` as in
    :func:`blur_scores` (default: the median over these patches).
    """
    x = np.asarray(patches)
    bg = np.zeros(len(x)) if background is None else np.asarray(background, dtype=np.float64).reshape(-1)
    pen, fold, lap = detector_measures(x, mpp)
    return ArtifactParts(background=bg, pen=pen, fold=fold, blur=blur_scores(lap, blur_reference))
