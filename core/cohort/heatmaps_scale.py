"""The maps ``evident heatmaps`` draws and their colour scales, per slide or fixed across a cohort.

A map is ``/scores/<name>`` of an evidence file (attention, ig, lrp, ... of a classification or a
survival model alike) or ``gate`` (``/gates``, GCE's π). Scales (docs/heatmaps.md):

* ``slide``: each slide's own 1st–99th percentiles (:func:`core.review.normalise.normalise`,
  ``"percentile"``); a signed map (:func:`core.review.normalise.is_signed`) is centred at 0 on
  ``±max|score|`` of the slide with the diverging colormap;
* ``cohort``: one range per map for every slide, from a first pass over all evidence files: the
  1st–99th percentiles of the pooled scores (each slide contributes up to 2,048 of its quantiles,
  weighted by its number of patches), or ``±`` the 99th percentile of ``|score|`` for a map signed
  on any slide. The same score then has the same colour on every slide.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import EvidentError
from core.review.normalise import describe, is_signed, normalise

__all__ = ["MapScale", "SCALE_FILE", "available_maps", "cohort_scales", "map_values", "read_scales",
           "slide_scale", "write_scales"]

#: What the cohort pass writes into the output folder.
SCALE_FILE = "heatmap_scale.json"
_QUANTILES = 2048
LO_PCT, HI_PCT = 1.0, 99.0
CMAP, SIGNED_CMAP = "viridis", "RdBu_r"


@dataclass(frozen=True)
class MapScale:
    """How one map's scores become colours.

    Attributes
    ----------
    name
        The map.
    vmin, vmax
        Scores drawn with the colormap's first and last colour (clipped beyond).
    cmap
        Colormap name (:data:`core.review.normalise.COLORMAPS`).
    text
        The normalisation in words, for the colour bar.
    """

    name: str
    vmin: float
    vmax: float
    cmap: str
    text: str

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """(N,) float scores -> (N,) float64 in [0, 1] (NaN stays NaN)."""
        return normalise(values, "manual", vmin=self.vmin, vmax=self.vmax)


def available_maps(ev) -> list[str]:
    """Names of the maps an :class:`core.evidence.evidence_file.Evidence` holds (``gate`` last)."""
    return sorted(ev.scores) + (["gate"] if ev.gates is not None else [])


def map_values(ev, name: str, path: str | os.PathLike | None = None) -> np.ndarray:
    """(N,) float64 scores of map ``name``.

    Raises
    ------
    EvidentError
        The file (``path``) has no such map; the message lists the ones it has.
    """
    if name == "gate" and ev.gates is not None:
        return np.asarray(ev.gates, dtype=np.float64)
    if name in ev.scores:
        return np.asarray(ev.scores[name], dtype=np.float64)
    have = ", ".join(available_maps(ev)) or "none"
    raise EvidentError(path, f"no map {name!r} in this evidence file (it has: {have})")


def slide_scale(name: str, values: np.ndarray) -> MapScale:
    """The per-slide scale of one map from its (N,) scores."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return MapScale(name, 0.0, 1.0, CMAP, "no finite scores")
    if is_signed(x):
        m = float(np.abs(x).max())
        return MapScale(name, -m, m, SIGNED_CMAP, f"this slide: {describe('centered')}")
    lo, hi = (float(v) for v in np.percentile(x, [LO_PCT, HI_PCT]))
    return MapScale(name, lo, hi, CMAP, f"this slide: {describe('percentile', lo_pct=LO_PCT, hi_pct=HI_PCT)}")


def cohort_scales(evidence_files: list[Path], maps: tuple[str, ...], progress=None,
                  on_error=None) -> dict[str, MapScale]:
    """One fixed scale per map over the cohort's evidence files (the first pass).

    Parameters
    ----------
    maps
        The maps; empty: every map the first file holds.
    progress
        Called as ``progress(i, n, path)`` after each file, or ``None``.
    on_error
        Called as ``on_error(path, error)`` for an unusable file, which is then left out; ``None``
        raises instead.

    Raises
    ------
    EvidentError
        An unreadable evidence file, or one without a requested map (when ``on_error`` is ``None``).
    """
    from core.evidence.evidence_file import read_evidence  # local: pulls in h5py

    quantiles: dict[str, list[np.ndarray]] = {}
    weights: dict[str, list[np.ndarray]] = {}
    signed: dict[str, bool] = {}
    n_slides = 0
    for i, f in enumerate(evidence_files, 1):
        try:
            ev = read_evidence(f)
            names = maps or tuple(available_maps(ev))
            found = [map_values(ev, name, f) for name in names]
        except EvidentError as exc:
            if on_error is None:
                raise
            on_error(f, exc)
            continue
        for name, x in zip(names, found):
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            m = min(x.size, _QUANTILES)
            quantiles.setdefault(name, []).append(np.quantile(x, np.linspace(0.0, 1.0, m)))
            weights.setdefault(name, []).append(np.full(m, x.size / m))
            signed[name] = signed.get(name, False) or is_signed(x)
        maps = names
        n_slides += 1
        if progress is not None:
            progress(i, len(evidence_files), f)
    out = {}
    for name in maps:
        if name not in quantiles:
            out[name] = MapScale(name, 0.0, 1.0, CMAP, "no finite scores in the cohort")
            continue
        q, w = np.concatenate(quantiles[name]), np.concatenate(weights[name])
        if signed[name]:
            m = _weighted_percentile(np.abs(q), w, HI_PCT)
            out[name] = MapScale(name, -m, m, SIGNED_CMAP,
                                 f"cohort of {n_slides}: centred at 0, ±{HI_PCT:g}th percentile of |score|")
        else:
            lo, hi = _weighted_percentile(q, w, LO_PCT), _weighted_percentile(q, w, HI_PCT)
            out[name] = MapScale(name, lo, hi, CMAP, f"cohort of {n_slides}: clipped to cohort percentiles "
                                                     f"{LO_PCT:g}–{HI_PCT:g}")
    return out


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, pct: float) -> float:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - 0.5 * w
    return float(np.interp(pct / 100.0 * w.sum(), cum, v))


def write_scales(path: str | os.PathLike, scales: dict[str, MapScale]) -> None:
    """Write the cohort scales as JSON atomically (``{"maps": {name: {vmin, vmax, cmap, text}}}``)."""
    from core.atomic import atomic_write_json  # local: keeps this module light

    atomic_write_json(path, {"format": "evident-heatmap-scale", "version": 1,
                             "maps": {k: asdict(v) for k, v in scales.items()}})


def read_scales(path: str | os.PathLike) -> dict[str, MapScale]:
    """Read what :func:`write_scales` wrote.

    Raises
    ------
    EvidentError
        Unreadable file or not a heatmap scale file.
    """
    from core.jsonfile import read_json  # local: keeps this module light

    doc = read_json(Path(path), "heatmap scale file")
    try:
        return {k: MapScale(**v) for k, v in doc["maps"].items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise EvidentError(path, f"not a heatmap scale file ({exc})") from None
