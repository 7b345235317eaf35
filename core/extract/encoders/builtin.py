"""The built-in ``stain_texture_v1`` encoder: hand-made H&E stain and texture features.

Deterministic, no downloaded weights, numpy only, vectorised over the batch (10–20 ms per
256-px patch on one CPU core). It is no foundation model: it describes how much of each stain a
patch holds, how it is distributed and how textured the patch is, which separates background,
stroma/dermis (eosin-rich, few nuclei) and cellular tissue such as epidermis (haematoxylin-rich,
dense nuclei) well enough for MIL experiments and for tests on real tissue.

Features, in this fixed order (see :data:`FEATURES` for the names; the patch is (H, W, 3) uint8;
H, E, R = haematoxylin, eosin, residual densities from :mod:`core.extract.encoders.stain`):

* ``h_hist_00..15``: fraction of pixels with H density in each of 16 equal bins on [0, 1.6)
  (values above go to the last bin);
* ``e_hist_00..15``: the same for E on [0, 0.8);
* ``h_mean, h_std, h_p90, e_mean, e_std, e_p90``: H and E density mean, standard deviation and 90th
  percentile;
* ``residual_mean``: mean residual ("DAB") density: ink, pigment, dust, blur;
* ``od_mean``: mean optical density over R, G, B (how much light the patch absorbs);
* ``background_fraction``: fraction of near-white pixels (every OD channel < 0.1);
* ``nuclear_fraction``: fraction of pixels with H density > 0.5 (a nuclear-density proxy);
* ``nuclei_per_10k_px``: 8-connected blobs of H > 0.5 with ≥ 30 pixels per 10,000 pixels (about
  nuclei per 50 × 50 µm at 20×);
* ``eosin_fraction``: fraction of pixels with E density > 0.25 (cytoplasm, collagen);
* ``{r,g,b}_{mean,std,p10,p50,p90}``: per-channel intensity statistics on [0, 1];
* ``hue_cos, hue_sin``: mean cosine and sine of the hue angle (the pixel's direction in the chroma
  plane, see :func:`core.extract.encoders.stain.hue_saturation_value`; hue is circular);
* ``sat_mean, sat_std, val_mean, val_std``: HSV saturation and value statistics on [0, 1];
* ``grad_mean, grad_std, grad_p90``: Sobel gradient magnitude of the grey image (luminance
  0.299 R + 0.587 G + 0.114 B on [0, 1]);
* ``lap_energy, lap_abs_mean``: mean square and mean absolute 4-neighbour Laplacian of grey
  (fine detail, focus);
* ``lbp_00..09``: histogram of rotation-invariant uniform LBP classes of grey (8 neighbours,
  radius 1): 0–8 = uniform patterns with that many brighter-or-equal neighbours, 9 = non-uniform;
* ``glcm{1,4}_{contrast,homogeneity,energy,correlation}``: grey-level co-occurrence statistics of
  8 grey levels at distances 1 and 4 pixels (horizontal and vertical pooled);
* ``h_grad_mean``: mean Sobel gradient magnitude of the H density (sharpness of nuclear edges).
"""

from __future__ import annotations

import numpy as np

from core.extract.encoders.base import PatchEncoder, check_patches
from core.extract.encoders.stain import (
    batch_histogram,
    channel_max_min,
    histogram_quantiles,
    hue_saturation_value,
    stain_densities,
    uint8_histogram,
)
from core.extract.encoders.texture import (
    count_blobs,
    glcm_features,
    laplacian,
    lbp_riu2_histogram,
    sobel_magnitude,
)

__all__ = ["StainTextureEncoder", "FEATURES"]

_H_RANGE = (0.0, 1.6)
_E_RANGE = (0.0, 0.8)
_NUCLEAR_H = 0.5
_EOSIN_E = 0.25
_BACKGROUND_OD = 0.1
_BACKGROUND_MIN_RGB = int(np.ceil(256.0 * 10.0 ** -_BACKGROUND_OD - 1.0))  # 203: all OD < 0.1 <=> min(R,G,B) >= 203
_MIN_NUCLEUS_PX = 30

FEATURES: tuple[str, ...] = (
    *(f"h_hist_{k:02d}" for k in range(16)),
    *(f"e_hist_{k:02d}" for k in range(16)),
    "h_mean", "h_std", "h_p90", "e_mean", "e_std", "e_p90",
    "residual_mean", "od_mean", "background_fraction", "nuclear_fraction", "nuclei_per_10k_px",
    "eosin_fraction",
    *(f"{c}_{s}" for c in "rgb" for s in ("mean", "std", "p10", "p50", "p90")),
    "hue_cos", "hue_sin", "sat_mean", "sat_std", "val_mean", "val_std",
    "grad_mean", "grad_std", "grad_p90", "lap_energy", "lap_abs_mean",
    *(f"lbp_{k:02d}" for k in range(10)),
    *(f"glcm{d}_{s}" for d in (1, 4) for s in ("contrast", "homogeneity", "energy", "correlation")),
    "h_grad_mean",
)


class StainTextureEncoder(PatchEncoder):
    """Hand-made stain and texture features (see the module docstring); ``dim`` = 89.

    Patches must be at least 6 × 6 pixels.
    """

    name = "stain_texture_v1"
    dim = len(FEATURES)

    def encode(self, patches: np.ndarray) -> np.ndarray:
        """Encode a batch: (B, H, W, 3) uint8 RGB -> (B, 89) float32 (order of :data:`FEATURES`)."""
        x = check_patches(patches)
        b, h, w, _ = x.shape
        if h < 6 or w < 6:
            raise ValueError(f"patches must be at least 6 x 6 pixels, got {h} x {w}")
        if b == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        stain, h_grad = self._stain(x)
        feats = [*stain, *self._colour(x), *self._texture(x), h_grad]
        out = np.concatenate([np.asarray(f, dtype=np.float64).reshape(b, -1) for f in feats], axis=1)
        assert out.shape[1] == self.dim
        return out.astype(np.float32)

    @staticmethod
    def _stain(x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        b, h, w, _ = x.shape
        flat = x.reshape(b, h * w, 3)  # (B, P, 3) uint8
        hed, od = stain_densities(flat)  # (B, P, 3) float32 each
        hd, ed, rd = hed[..., 0], hed[..., 1], hed[..., 2]  # (B, P)
        h_fine = batch_histogram(hd, *_H_RANGE, bins=160)  # (B, 160) for the percentile
        e_fine = batch_histogram(ed, *_E_RANGE, bins=160)
        h_hist = h_fine.reshape(b, 16, 10).sum(axis=2)  # (B, 16)
        e_hist = e_fine.reshape(b, 16, 10).sum(axis=2)
        nuclear = (hd > _NUCLEAR_H).reshape(b, h, w)  # (B, H, W) bool
        nuclei = count_blobs(nuclear, _MIN_NUCLEUS_PX) * (1e4 / (h * w))
        h_grad = sobel_magnitude(hd.reshape(b, h, w)).mean(axis=(1, 2))
        return [
            h_hist, e_hist,
            hd.mean(axis=1), hd.std(axis=1), histogram_quantiles(h_fine, (0.9,), *_H_RANGE),
            ed.mean(axis=1), ed.std(axis=1), histogram_quantiles(e_fine, (0.9,), *_E_RANGE),
            rd.mean(axis=1), od.mean(axis=(1, 2)), (channel_max_min(flat)[1] >= _BACKGROUND_MIN_RGB).mean(axis=1),
            nuclear.mean(axis=(1, 2)), nuclei, (ed > _EOSIN_E).mean(axis=1),
        ], h_grad

    @staticmethod
    def _colour(x: np.ndarray) -> list[np.ndarray]:
        b = x.shape[0]
        flat = x.reshape(b, -1, 3)  # (B, P, 3) uint8
        out = []
        for c in range(3):
            ch = flat[..., c]  # (B, P) uint8
            q = histogram_quantiles(uint8_histogram(ch), (0.1, 0.5, 0.9), 0.0, 256.0)  # (B, 3) k + 0.5
            chf = ch.astype(np.float32) / np.float32(255.0)
            out.append(np.column_stack([chf.mean(axis=1), chf.std(axis=1), (q - 0.5) / 255.0]))
        hue_cos, hue_sin, sat, val = hue_saturation_value(flat)  # (B, P) each
        out.append(np.column_stack([hue_cos.mean(axis=1), hue_sin.mean(axis=1),
                                    sat.mean(axis=1), sat.std(axis=1), val.mean(axis=1), val.std(axis=1)]))
        return out

    @staticmethod
    def _texture(x: np.ndarray) -> list[np.ndarray]:
        b = x.shape[0]
        grey = (x[..., 0] * np.float32(0.299 / 255) + x[..., 1] * np.float32(0.587 / 255)
                + x[..., 2] * np.float32(0.114 / 255))  # (B, H, W) float32 in [0, 1]
        grad = sobel_magnitude(grey).reshape(b, -1)  # (B, P')
        lap = laplacian(grey).reshape(b, -1)
        grey8 = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)  # (B, H, W)
        return [
            grad.mean(axis=1), grad.std(axis=1), np.percentile(grad, 90, axis=1),
            (lap * lap).mean(axis=1), np.abs(lap).mean(axis=1),
            lbp_riu2_histogram(grey8),
            glcm_features(grey8, 1), glcm_features(grey8, 4),
        ]
