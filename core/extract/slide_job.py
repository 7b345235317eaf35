"""``evident extract`` as a per-slide job of :mod:`core.schedule` (docs/scheduler.md): the encoder is
built once per worker, each slide becomes ``OUT/features_<encoder>/<slide stem>.h5``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ExtractJob"]


@dataclass(frozen=True)
class ExtractJob:
    """Settings of :func:`core.extract.pipeline.extract_slide` (magnification in ×, sizes in px).

    ``slides``: slide id (the file's stem) -> slide path, left out of the settings key (repr).
    """

    encoder: str
    device: str
    encoder_size: int | None
    encoder_norm: str
    target_mag: float
    patch_size: int
    tissue_threshold: float
    batch_size: int
    read_threads: int
    level0_mag: float | None
    preview: bool
    skip_existing: bool
    progress: bool = field(default=False, repr=False, compare=False)
    slides: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return "extract"

    def setup(self):
        """The patch encoder (a model encoder on its device)."""
        from core.extract.encoders import build_encoder  # local: scipy / torch only in the worker

        return build_encoder(self.encoder, device=self.device, size=self.encoder_size,
                             normalization=self.encoder_norm)

    def run(self, state, slide_id: str, out_dir: Path) -> None:
        import h5py  # local: only in the worker

        from core.extract.pipeline import extract_slide, feature_path

        slide = self.slides[slide_id]
        target = feature_path(out_dir, slide, state.name)
        if self.skip_existing and target.is_file():
            print(f"{target}\texists, skipped", flush=True)
            return
        t0 = time.perf_counter()
        out = extract_slide(slide, out_dir, encoder=state, target_mag=self.target_mag, patch_size=self.patch_size,
                            tissue_threshold=self.tissue_threshold, batch_size=self.batch_size,
                            workers=self.read_threads, progress=self.progress, level0_mag=self.level0_mag,
                            preview=self.preview)
        with h5py.File(out, "r") as f:
            n, d = f["features"].shape
        print(f"{out}\t{n} patches x {d} features\t{time.perf_counter() - t0:.1f} s", flush=True)
