"""Extract one slide's patch features into a TRIDENT-style feature file.

Steps: open the slide (:func:`core.slide.reader.open_slide`), detect tissue on a thumbnail
(:mod:`core.extract.tissue`), lay the patch grid (:mod:`core.extract.grid`), read the patches on a
small thread pool sharing the one reader (the next batch is read while the current one is encoded),
encode them in batches and write the bag with :func:`core.data.bags.write_bag` (atomic: an error or
Ctrl-C leaves no file behind).

Output layout: TRIDENT's, ``OUT/<mag>x_<ps>px_0px_overlap/features_<encoder name>/<slide stem>.h5``
(:func:`feature_path`; ``<mag>`` as TRIDENT formats it: ``20``, ``2.5``), so a TRIDENT job folder and
an Evident output folder can be used in place of each other. :func:`core.data.feature_search.find_feature_file`
finds these files from ``OUT`` (or from the magnification folder). The file holds ``features`` (N, D) float32 and ``coords`` (N, 2)
int64 level-0 top-left corners, with the attributes ``patch_size``, ``patch_size_level0``,
``level0_magnification``, ``target_magnification``, ``overlap`` (0), ``level0_width``,
``level0_height``, ``encoder``, ``encoder_dim`` and ``tissue_threshold`` on ``coords``. On
request a quality-control picture goes to ``OUT/previews/<stem>.png`` (:mod:`core.extract.preview`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from core.data.bag import FeatureBag
from core.data.bags import write_bag
from core.errors import EvidentError
from core.extract.encoders.base import PatchEncoder
from core.extract.grid import PatchGrid, build_grid, level0_magnification
from core.extract.preview import write_preview
from core.extract.tissue import detect_tissue
from core.slide.stain import StainMethod

__all__ = ["extract_slide", "feature_path", "magnification_folder", "preview_path", "read_patch", "iter_patch_batches"]


def magnification_folder(target_mag: float, patch_size: int) -> str:
    """TRIDENT's folder name for a patching setting: ``20x_256px_0px_overlap``, ``2.5x_512px_0px_overlap``.

    As ``Processor.run_patching_job`` (trident/Processor.py, github.com/mahmoodlab/TRIDENT at
    a91fa8490e0210ebbbe58452c3babe009e0ab7ca) formats it; Evident's grids have no overlap.
    """
    m = float(target_mag)
    mag = str(int(round(m))) if abs(m - round(m)) < 1e-9 else f"{m:g}"
    return f"{mag}x_{int(patch_size)}px_0px_overlap"


def feature_path(out_dir: str | os.PathLike, slide_path: str | os.PathLike, encoder_name: str,
                 target_mag: float = 20.0, patch_size: int = 256) -> Path:
    """Where :func:`extract_slide` writes a slide's features:
    ``OUT/<mag>x_<ps>px_0px_overlap/features_<encoder>/<stem>.h5`` (TRIDENT's layout)."""
    return (Path(out_dir) / magnification_folder(target_mag, patch_size) / f"features_{encoder_name}"
            / f"{Path(slide_path).stem}.h5")


def preview_path(out_dir: str | os.PathLike, slide_path: str | os.PathLike) -> Path:
    """Where the optional preview goes: ``OUT/previews/<stem>.png``."""
    return Path(out_dir) / "previews" / f"{Path(slide_path).stem}.png"


def read_patch(reader, x: int, y: int, grid: PatchGrid) -> np.ndarray:
    """Read one patch of the grid as RGB at the target magnification.

    Transparent pixels (outside the scanned area) are composited onto white.

    Returns
    -------
    np.ndarray
        (patch_size, patch_size, 3) uint8.
    """
    s = grid.read_size
    rgba = reader.read_region((int(x), int(y)), grid.read_level, (s, s))  # (s, s, 4) uint8
    rgb = rgba[..., :3]
    alpha = rgba[..., 3]
    if not np.all(alpha == 255):
        a = alpha[..., None].astype(np.uint16)
        rgb = ((rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    side = grid.patch_size_target_px
    if s != side:
        from PIL import Image  # local: PIL only when used

        img = Image.fromarray(np.ascontiguousarray(rgb)).resize(
            (side, side), Image.Resampling.BOX if s > side else Image.Resampling.BILINEAR)
        rgb = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def iter_patch_batches(reader, grid: PatchGrid, batch_size: int, pool: ThreadPoolExecutor) -> Iterator[np.ndarray]:
    """Yield the grid's patches in order, in batches, reading one batch ahead on ``pool``.

    Yields
    ------
    np.ndarray
        (B, patch_size, patch_size, 3) uint8, B <= ``batch_size``.
    """
    n = len(grid.coords)

    def submit(start: int) -> list[Future]:
        return [pool.submit(read_patch, reader, x, y, grid) for x, y in grid.coords[start:start + batch_size]]

    pending = submit(0) if n else []
    for start in range(0, n, batch_size):
        ahead = submit(start + batch_size) if start + batch_size < n else []
        try:
            yield np.stack([f.result() for f in pending])
        except BaseException:
            for f in (*pending, *ahead):
                f.cancel()
            raise
        pending = ahead


def extract_slide(
    slide_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    encoder: PatchEncoder,
    target_mag: float = 20.0,
    patch_size: int = 256,
    tissue_threshold: float = 0.5,
    batch_size: int = 64,
    workers: int = 2,
    progress: bool = True,
    level0_mag: float | None = None,
    preview: bool = False,
    stain: StainMethod | None = None,
    stain_target: np.ndarray | None = None,
) -> Path:
    """Extract the features of one slide (see the module docstring for the output).

    Parameters
    ----------
    slide_path
        Any slide :func:`core.slide.reader.open_slide` reads.
    out_dir
        Output folder (created when missing).
    encoder
        The patch encoder.
    target_mag, patch_size, tissue_threshold, level0_mag
        See :func:`core.extract.grid.build_grid`.
    batch_size
        Patches per encoder call.
    workers
        Reader threads.
    progress
        Show a tqdm progress bar on stderr.
    preview
        Also write ``OUT/previews/<stem>.png`` (:mod:`core.extract.preview`) after the features.
    stain, stain_target
        Stain-normalise the patches before encoding (``"macenko"`` or ``"reinhard"``), with one
        transform fitted to this slide's tissue and ``stain_target`` ((h, w, 3) uint8; ``None``:
        Macenko's reference stain), as the viewer's View › Stain Normalisation does
        (core/slide/colour.py, docs/colour.md); the file's attributes record it.

    Returns
    -------
    Path
        The feature file written.

    Raises
    ------
    EvidentError
        Missing or unreadable slide, undecodable tiles, unknown magnification, no tissue patch.
    """
    from tqdm import tqdm  # local: tqdm only when used

    from core.slide.reader import open_slide  # local: pulls in openslide

    if batch_size < 1 or workers < 1 or patch_size < 1:
        raise ValueError(f"batch size, workers and patch size must be >= 1, got {batch_size}, {workers}, "
                         f"{patch_size}")
    if not target_mag > 0 or (level0_mag is not None and not level0_mag > 0):
        raise ValueError(f"magnifications must be positive, got {target_mag}, {level0_mag}")
    slide_path = Path(slide_path)
    out = feature_path(out_dir, slide_path, encoder.name, target_mag, patch_size)
    with open_slide(slide_path) as reader:
        mag0 = level0_mag if level0_mag is not None else level0_magnification(
            reader.objective_power, reader.mpp, slide_path)
        # the mask resolves each patch side into about 16 mask pixels
        tissue = detect_tissue(reader, downsample=max(1.0, patch_size * mag0 / target_mag / 16.0))
        grid = build_grid(reader, tissue, target_mag=target_mag, patch_size=patch_size,
                          tissue_threshold=tissue_threshold, level0_mag=mag0)
        if len(grid.coords) == 0:
            what = ("the slide is smaller than one patch" if grid.n_candidates == 0 else
                    f"none of {grid.n_candidates} patches has tissue fraction >= {tissue_threshold:g}")
            raise EvidentError(slide_path, f"no tissue patches to extract ({what})")
        source, stain_attrs = reader, {}
        if stain is not None:
            from core.slide.colour import ColouredSource, slide_stain_normaliser  # local: torchstain when asked

            source = ColouredSource(reader, [slide_stain_normaliser(reader, stain, stain_target)])
            stain_attrs = {"stain_norm": stain, "stain_target": "reference" if stain_target is None else
                           hashlib.sha256(np.ascontiguousarray(stain_target).tobytes()).hexdigest()}
        feats = np.empty((len(grid.coords), encoder.dim), dtype=np.float32)  # (N, D)
        done = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evident-extract") as pool, \
                tqdm(total=len(grid.coords), desc=slide_path.stem, unit="patch", file=sys.stderr,
                     disable=not progress, leave=False) as bar:
            try:
                for batch in iter_patch_batches(source, grid, batch_size, pool):
                    feats[done:done + len(batch)] = encoder.encode(batch)
                    done += len(batch)
                    bar.update(len(batch))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        if not np.isfinite(feats).all():
            raise EvidentError(slide_path, f"encoder {encoder.name!r} produced NaN or Inf features")
        attrs = {**grid.attrs(), "encoder": encoder.name, "encoder_dim": int(encoder.dim),
                 "tissue_threshold": float(tissue_threshold), **stain_attrs}
        bag = FeatureBag(features=feats, coords=grid.coords, patch_size_level0=grid.patch_size_level0_px,
                         slide_id=slide_path.stem, source=str(out), attrs=attrs)
        write_bag(out, bag, layout="trident")
        if preview:
            write_preview(preview_path(out_dir, slide_path), reader, tissue, grid)
    return out
