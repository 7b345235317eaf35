"""``evident extract`` as a per-slide job of :mod:`core.schedule` (docs/scheduler.md): the encoder (and the
stain target image) are loaded once per worker; each slide becomes
``OUT/<mag>x_<px>px_0px_overlap/features_<encoder>/<slide stem>.h5`` (TRIDENT's layout)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["ExtractJob", "ExtractState"]


class ExtractState(NamedTuple):
    """What a worker loads once: the patch encoder and the stain target's pixels ((h, w, 3) uint8 or None)."""

    encoder: Any
    stain_pixels: Any


@dataclass(frozen=True)
class ExtractJob:
    """Settings of :func:`core.extract.pipeline.extract_slide` (magnification in ×, sizes in px;
    ``target_mag`` / ``patch_size`` ``None``: the encoder's own, else 20× / 256 px).

    ``stain`` / ``stain_target``: stain normalisation (``"macenko"``/``"reinhard"``) and the absolute
    path of its target image (``None``: Macenko's reference stain). ``model_options``: extra
    ``timm.create_model`` arguments as sorted ``(key, value)`` pairs. ``slides``: slide id (the file's
    stem) -> slide path, left out of the settings key (repr).
    """

    encoder: str
    device: str
    encoder_size: int | None
    encoder_norm: str | None
    target_mag: float | None
    patch_size: int | None
    tissue_threshold: float
    batch_size: int
    read_threads: int
    level0_mag: float | None
    preview: bool
    skip_existing: bool
    weights: str | None = None
    precision: str = "auto"
    allow_download: bool = False
    model_options: tuple = ()
    stain: str | None = None
    stain_target: str | None = None
    progress: bool = field(default=False, repr=False, compare=False)
    slides: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return "extract"

    def setup(self) -> ExtractState:
        """The patch encoder (a model encoder on its device) and the stain target's pixels."""
        from core.extract.encoders import build_encoder  # local: scipy / torch only in the worker

        encoder = build_encoder(self.encoder, device=self.device, size=self.encoder_size,
                                normalization=self.encoder_norm, weights=self.weights, precision=self.precision,
                                allow_download=self.allow_download, model_options=dict(self.model_options))
        pixels = None
        if self.stain_target is not None:
            from core.slide.stain import read_target_image  # local: PIL only when asked

            pixels = read_target_image(self.stain_target)
        return ExtractState(encoder, pixels)

    def input_key(self, slide_id: str) -> str:
        """The slide file's path, size and mtime (:func:`core.schedule.job.stat_key`: slides are
        gigabytes, so no content digest), and those of the local weights and stain target files when
        given (a name that is no file, e.g. a hub id, keys as ``missing``, which does not change)."""
        from core.schedule.job import stat_key  # local: keeps this module light

        return stat_key(self.slides[slide_id], self.weights, self.stain_target)

    def run(self, state: ExtractState, slide_id: str, out_dir: Path) -> None:
        import h5py  # local: only in the worker

        from core.extract.pipeline import extract_slide, feature_path

        encoder = state.encoder
        mag = self.target_mag or getattr(encoder, "magnification", None) or 20.0
        patch_size = self.patch_size or getattr(encoder, "patch_size", None) or 256
        slide = self.slides[slide_id]
        target = feature_path(out_dir, slide, encoder.name, mag, patch_size)
        if self.skip_existing and target.is_file():
            print(f"{target}\texists, skipped", flush=True)
            return
        t0 = time.perf_counter()
        out = extract_slide(slide, out_dir, encoder=encoder, target_mag=mag, patch_size=patch_size,
                            tissue_threshold=self.tissue_threshold, batch_size=self.batch_size,
                            workers=self.read_threads, progress=self.progress, level0_mag=self.level0_mag,
                            preview=self.preview, stain=self.stain, stain_target=state.stain_pixels)
        with h5py.File(out, "r") as f:
            n, d = f["features"].shape
        print(f"{out}\t{n} patches x {d} features\t{time.perf_counter() - t0:.1f} s", flush=True)
