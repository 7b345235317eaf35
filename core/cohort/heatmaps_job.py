"""One slide's heatmaps as a job a scheduler can run: :class:`HeatmapJob`.

For slide ``S`` the job writes, under ``OUT/S/`` (docs/heatmaps.md):

* ``S.<map>.png``: the slide (its thumbnail) with the map over it, the colour bar with the
  normalisation in words and the end values, subset and annotation outlines, a scale bar;
* ``S.<map>.overlay.tiff``: the map on the patch grid as a pyramidal RGBA TIFF at ``q × mpp`` µm
  per pixel (:mod:`core.cohort.heatmaps_overlay`), which OpenSlide and QuPath place on the slide;
* ``S.<map>.top<k>.png``: the k highest-scoring patches read from the slide
  (:mod:`core.cohort.heatmaps_tiles`);
* ``S.subset.<name>.geojson``: each evidence subset's merged patch squares for QuPath
  (:func:`core.review.export.write_patch_geojson`);
* ``heatmaps.json``, written last: the outputs, the scales, and the digest of the inputs and
  settings. A slide whose ``heatmaps.json`` has the same digest and whose outputs all exist is done
  and is skipped (resuming). A slide's files are drawn in a staging folder and moved into place
  when all are complete, the record last (:mod:`core.atomic`): a slide that fails leaves nothing.

The job is frozen and picklable; ``setup()`` returns the per-worker state (nothing: a slide opens
its own reader) and ``run(state, slide_id, out_dir)`` draws one slide, raising
:class:`core.errors.EvidentError` on bad input. The interface is the scheduler's ``SlideJob``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.cohort.heatmaps_inputs import HeatmapInputs, inputs_digest
from core.cohort.heatmaps_scale import MapScale, available_maps, map_values, slide_scale
from core.errors import EvidentError

__all__ = ["HeatmapJob", "RECORD", "SCALES"]

#: The per-slide record, written last.
RECORD = "heatmaps.json"
SCALES = ("slide", "cohort")
_SUBSET_COLOURS = ("#e6194b", "#f58231", "#911eb4", "#f032e6", "#3cb44b", "#4363d8")
_ANNOTATION_COLOUR = "black"


@dataclass(frozen=True)
class HeatmapJob:
    """The options of a heatmaps run and its slides' inputs.

    Attributes
    ----------
    inputs
        One :class:`HeatmapInputs` per slide.
    maps
        Maps to draw (``/scores/<name>`` or ``gate``); empty: every map each file holds.
    scale
        ``"slide"`` or ``"cohort"`` (then ``cohort_scales`` holds one :class:`MapScale` per map).
    subsets
        Subsets to outline and export; ``None``: every subset of the file.
    width_px
        Width of each overview PNG (px, colour bar included).
    top_k, tile_px
        Patches on the tile sheet, and their edge (px).
    px_per_patch
        Overlay TIFF pixels along a patch side.
    opacity
        Alpha of the map's colours (0–1) in the PNG and the TIFF.
    """

    inputs: tuple[HeatmapInputs, ...] = field(repr=False)
    maps: tuple[str, ...] = ()
    scale: str = "slide"
    cohort_scales: tuple[MapScale, ...] = ()
    subsets: tuple[str, ...] | None = None
    width_px: int = 1600
    top_k: int = 16
    tile_px: int = 160
    px_per_patch: int = 1
    opacity: float = 0.6
    name: str = "heatmaps"

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise EvidentError(None, f"unknown scale {self.scale!r} (use one of: {', '.join(SCALES)})")
        if self.scale == "cohort" and not self.cohort_scales:
            raise EvidentError(None, "a cohort scale needs the scales of the first pass (cohort_scales)")
        if self.width_px < 64 or self.top_k < 0 or self.tile_px < 16 or self.px_per_patch < 1:
            raise EvidentError(None, "width must be >= 64 px, top-k >= 0, tiles >= 16 px, px per patch >= 1")
        if not 0.0 <= self.opacity <= 1.0:
            raise EvidentError(None, f"opacity must lie in [0, 1], got {self.opacity}")

    # -- the scheduler's interface ---------------------------------------------------------------
    def setup(self) -> object:
        """Per-worker state: none (each slide opens its own reader)."""
        return None

    def input_key(self, slide_id: str) -> str:
        """The digest ``heatmaps.json`` records (:func:`inputs_digest`: the evidence and annotation
        files by content, which are small and may be rewritten in place within a second, the slide and
        feature files by path, size and mtime; and the settings): the ledger redoes a slide when it changes."""
        return inputs_digest(self.inputs_of(slide_id), self._settings())

    def outputs_complete(self, slide_id: str, out_dir: Path) -> bool:
        """Whether every output ``heatmaps.json`` lists is there (a slide the ledger has done but whose
        outputs were removed is drawn again)."""
        folder = Path(out_dir) / slide_id
        try:
            doc = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and all((folder / name).is_file() for name in doc.get("outputs", []))

    def run(self, state: object, slide_id: str, out_dir: Path) -> None:
        """Write ``out_dir/<slide_id>/``'s heatmaps (skipped when already done with the same digest)."""
        t0 = time.perf_counter()
        inp = self.inputs_of(slide_id)
        folder = Path(out_dir) / slide_id
        digest = inputs_digest(inp, self._settings())
        if self.is_done(slide_id, out_dir, digest):
            return
        from core.evidence.evidence_file import read_evidence  # local: pulls in h5py
        from core.slide.reader import open_slide  # local: pulls in openslide

        ev = read_evidence(inp.evidence)
        coords = np.asarray(ev.coords, dtype=np.int64)
        patch = self._patch_size(inp, coords)
        names = self.maps or tuple(available_maps(ev))
        if not names:
            raise EvidentError(inp.evidence, "holds no maps (/scores/<method> or /gates) to draw")
        values = {n: map_values(ev, n, inp.evidence) for n in names}
        subsets = {k: s.indices for k, s in ev.subsets.items() if self.subsets is None or k in self.subsets}
        annotations = self._annotations(inp)
        from core.atomic import atomic_write_json, staging_dir  # local: keeps this module light
        from core.review.export import patch_regions, write_patch_geojson  # local: pulls in shapely

        regions = {k: patch_regions(coords, patch, idx) for k, idx in subsets.items()}
        outputs: list[str] = []
        record_maps = {}
        with open_slide(inp.slide) as reader:
            _check_inside(inp, coords, reader.dimensions)
            outlines = self._outlines(subsets, regions, annotations)
            # drawn in a staging folder, moved into place when complete: a slide that fails leaves nothing
            with staging_dir(out_dir, f"heatmaps-{slide_id}") as stage:
                w, h = reader.dimensions
                img_px = self.width_px - min(160, self.width_px // 4)  # render_figure's image part
                thumb = reader.get_thumbnail((img_px, max(int(round(img_px * h / max(w, 1))), 64)))
                for n in names:
                    record_maps[n] = self._draw_map(reader, thumb, inp, ev, coords, patch, n, values[n], outlines,
                                                    stage, outputs)
                for k, idx in subsets.items():
                    name = f"{slide_id}.subset.{k}.geojson"
                    write_patch_geojson(stage / name, coords, patch, idx, classification=k, name=f"{slide_id} {k}",
                                        scores=values[names[0]], regions=regions[k])
                    outputs.append(name)
                folder.mkdir(parents=True, exist_ok=True)
                for name in outputs:
                    os.replace(stage / name, folder / name)
        atomic_write_json(folder / RECORD, {
            "format": "evident-heatmaps", "version": 1, "slide_id": slide_id, "digest": digest,
            "inputs": {k: None if v is None else str(v) for k, v in vars(inp).items() if k != "slide_id"},
            "patch_size_level0": patch, "n_patches": int(coords.shape[0]), "prediction": _prediction(ev),
            "scale": self.scale, "maps": record_maps, "outputs": outputs})
        print(f"{slide_id}: {len(names)} map(s), {len(outputs)} file(s), {time.perf_counter() - t0:.1f} s -> {folder}",
              file=sys.stderr, flush=True)

    # -- helpers ---------------------------------------------------------------------------------
    def inputs_of(self, slide_id: str) -> HeatmapInputs:
        """The inputs of ``slide_id``; :class:`EvidentError` when the job has no such slide."""
        for inp in self.inputs:
            if inp.slide_id == slide_id:
                return inp
        raise EvidentError(None, f"slide {slide_id!r} is not one of this heatmaps job's slides")

    @property
    def slide_ids(self) -> tuple[str, ...]:
        """The job's slides, in order."""
        return tuple(i.slide_id for i in self.inputs)

    def is_done(self, slide_id: str, out_dir: Path, digest: str | None = None) -> bool:
        """Whether ``slide_id``'s outputs all exist and were made from the same inputs and settings."""
        folder = Path(out_dir) / slide_id
        try:
            doc = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if digest is None:
            digest = inputs_digest(self.inputs_of(slide_id), self._settings())
        if not isinstance(doc, dict) or doc.get("digest") != digest:
            return False
        return self.outputs_complete(slide_id, out_dir)

    def _settings(self) -> dict:
        return {"maps": list(self.maps), "scale": self.scale, "subsets": None if self.subsets is None else list(self.subsets),
                "cohort_scales": [vars(s) for s in self.cohort_scales], "width_px": self.width_px,
                "top_k": self.top_k, "tile_px": self.tile_px, "px_per_patch": self.px_per_patch,
                "opacity": self.opacity, "version": 1}

    def _scale_of(self, name: str, values: np.ndarray, path: Path) -> MapScale:
        if self.scale == "slide":
            return slide_scale(name, values)
        for s in self.cohort_scales:
            if s.name == name:
                return s
        raise EvidentError(path, f"map {name!r} has no cohort scale (the first pass saw no slide holding it)")

    def _patch_size(self, inp: HeatmapInputs, coords: np.ndarray) -> int:
        """Level-0 patch side: the feature file's attributes, else the smallest coordinate step."""
        if inp.features is not None:
            from core.data.bags import read_bag  # local: pulls in h5py
            from core.evidence.evidence_file import coords_digest  # local: pulls in h5py

            bag = read_bag(inp.features)
            if coords_digest(bag.coords) != coords_digest(coords):
                raise EvidentError(inp.evidence, f"its patch coordinates differ from the feature file {inp.features} "
                                                 "(evidence of another slide or another patching)")
            if bag.patch_size_level0:
                return int(bag.patch_size_level0)
        from core.train.annotation_masks import infer_patch_size  # local: pulls in shapely

        size = infer_patch_size(coords)
        if size is None:
            raise EvidentError(inp.evidence, "patch size unknown (one patch only and no feature file that says it)")
        return int(size)

    def _annotations(self, inp: HeatmapInputs) -> list:
        if inp.annotations is None:
            return []
        from core.data.annotations import read_annotations  # local: pulls in shapely

        return read_annotations(inp.annotations)

    def _outlines(self, subsets: dict, regions: dict, annotations: list) -> list:
        """``(geometry, colour, label)`` for each subset's merged squares and the annotations."""
        import shapely  # local: shapely only when used

        out = []
        for i, (k, idx) in enumerate(subsets.items()):
            polys = [poly for poly, _ in regions[k]]  # disjoint parts of one union: no second union needed
            if polys:
                out.append((shapely.MultiPolygon(polys), _SUBSET_COLOURS[i % len(_SUBSET_COLOURS)],
                            f"subset {k} ({len(idx)})"))
        if annotations:
            out.append((shapely.union_all([a.geometry for a in annotations]), _ANNOTATION_COLOUR,
                        f"annotations ({len(annotations)})"))
        return out

    def _draw_map(self, reader, thumb: np.ndarray, inp: HeatmapInputs, ev, coords, patch: int, name: str, values: np.ndarray,
                  outlines: list, folder: Path, outputs: list[str]) -> dict:
        """Write one map's overview PNG, overlay TIFF and tile sheet; returns its record."""
        from core.cohort.heatmaps_overlay import blend_on, overlay_raster, write_overlay_tiff
        from core.cohort.heatmaps_tiles import write_tile_sheet
        from core.review.agreement import top_k
        from core.review.export import render_figure  # local: pulls in matplotlib
        from core.review.normalise import colorize, colormap_lut

        sid = inp.slide_id
        scale = self._scale_of(name, values, inp.evidence)
        norm = scale.normalise(values)
        colours = colorize(norm, scale.cmap, opacity=self.opacity)
        raster, q = overlay_raster(coords, patch, colours, reader.dimensions, px_per_patch=self.px_per_patch,
                                   order=norm)
        tiff = f"{sid}.{name}.overlay.tiff"
        write_overlay_tiff(folder / tiff, raster, q, reader.mpp,
                           description=f"Evident heatmap overlay: map {name} of slide {sid}")
        label = f"{name}: {scale.text}"
        ends = (f"{scale.vmin:.3g}", f"{scale.vmax:.3g}")
        png = f"{sid}.{name}.png"
        render_figure(folder / png, reader, (0.0, 0.0, *map(float, reader.dimensions)),
                      background=blend_on(thumb, raster, q, reader.dimensions), lut=colormap_lut(scale.cmap),
                      colorbar_label=label, colorbar_ends=ends, width_px=self.width_px, compress_level=1,
                      title=f"{sid} · {name} · {_prediction_text(ev)}", outlines=outlines)
        outputs += [png, tiff]
        if self.top_k > 0:
            sheet = f"{sid}.{name}.top{self.top_k}.png"
            best = top_k(values, self.top_k)
            write_tile_sheet(folder / sheet, reader, coords, patch, best[np.isfinite(values[best])], values,
                             tile_px=self.tile_px, title=f"{sid}: top {self.top_k} patches by {name}")
            outputs.append(sheet)
        return {"vmin": scale.vmin, "vmax": scale.vmax, "cmap": scale.cmap, "colorbar_label": label,
                "colorbar_ends": list(ends), "overlay_px_level0": q}


def _check_inside(inp: HeatmapInputs, coords: np.ndarray, dims: tuple[int, int]) -> None:
    if coords.size and (coords.min() < 0 or coords[:, 0].max() >= dims[0] or coords[:, 1].max() >= dims[1]):
        raise EvidentError(inp.evidence, f"patch corners lie outside the slide {inp.slide} ({dims[0]} x {dims[1]} px): "
                                         "evidence of another slide?")


def _prediction(ev) -> dict:
    if ev.risk is not None:
        return {"task": ev.task or "survival", "risk": float(np.asarray(ev.risk).reshape(-1)[0])}
    if ev.probs is not None:
        pc = int(ev.predicted_class)
        return {"task": ev.task or "classification", "predicted_class": pc,
                "class": ev.classes[pc] if 0 <= pc < len(ev.classes) else str(pc),
                "probability": float(np.asarray(ev.probs)[pc]) if 0 <= pc < len(ev.probs) else None}
    return {"task": ev.task}


def _prediction_text(ev) -> str:
    p = _prediction(ev)
    if "risk" in p:
        return f"risk {p['risk']:.3g}"
    if "class" in p:
        prob = "" if p["probability"] is None else f" (p = {p['probability']:.2f})"
        return f"predicted {p['class']}{prob}"
    return "no prediction"
