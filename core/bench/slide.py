"""Slide-access benchmark on the large real-tissue pyramid TIFF.

Rows (standard format, see :mod:`core.bench`):

* ``loader: pool of N vs 1 worker`` -- per-tile wall time of :class:`~core.slide.loader.TileLoader`
  reading level-0 tiles with ``N`` workers (ours) vs with 1 worker (baseline); ``speedup`` is the
  throughput ratio. Each configuration gets a fresh reader and its own random tiles (disjoint
  sets), so OpenSlide's internal tile cache never helps one of them.
  ``max_abs_diff``: pool-delivered tiles against direct ``read_region`` of the same tiles. Rounds
  alternate which configuration goes first; times are medians over the rounds (the machine may be
  shared: ``load_avg_1min`` says how busy it was; a pool cannot beat one worker when the load
  already fills every core).
* ``cache: hit vs miss`` -- latency of ``TileLoader.read_tile`` when the tile is in the
  :class:`~core.slide.cache.TileCache` (ours) vs when it is read and decoded (baseline); medians.
  ``max_abs_diff``: the hit's pixels against the miss's.
* ``stain normalisation: <method> vs plain reads`` -- per-tile time of reading level-0 tiles through
  :class:`core.slide.colour.ColouredSource` with the slide's Macenko / Reinhard transform (ours) vs
  plain ``read_region`` (baseline), one thread; ``tiles_per_s`` for both. The fit itself (once per
  slide) is ``fit_ms``. ``max_abs_diff``: normalised vs plain pixels (how much the stain changed).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.slide.cache import TileCache
from core.slide.loader import TileLoader
from core.slide.pyramid import large_slide_path
from core.slide.tiling import TileKey, tile_grid, tile_level_size

__all__ = ["GROUP", "run", "bench_slide", "bench_stain"]

GROUP = "slide"


def _random_tiles(reader: Any, n: int, tile: int, rng: np.random.Generator) -> list[Any]:
    ncols, nrows = tile_grid(reader.level_dimensions, 0, tile)
    flat = rng.choice(ncols * nrows, size=min(n, ncols * nrows), replace=False)
    return [TileKey(0, int(i % ncols), int(i // ncols)) for i in flat]


def _loader_run(path: Path, keys: list[Any], workers: int, tile: int) -> tuple[float, dict[Any, np.ndarray]]:
    """Seconds for a fresh loader with ``workers`` threads to deliver every key; and the tiles."""
    from core.slide.reader import open_slide  # local: pulls in openslide

    got: dict[Any, np.ndarray] = {}
    errors: list[BaseException] = []
    done = threading.Event()
    lock = threading.Lock()

    def on_tile(key: Any, rgba: np.ndarray) -> None:
        with lock:
            got[key] = rgba
            if len(got) == len(keys):
                done.set()

    def on_error(key: Any, exc: BaseException) -> None:
        errors.append(exc)
        done.set()

    with open_slide(path) as reader:
        loader = TileLoader(reader, cache=None, tile_size=tile, workers=workers, on_tile=on_tile, on_error=on_error)
        try:
            t0 = time.perf_counter()
            loader.request(keys)
            done.wait()
            elapsed = time.perf_counter() - t0
        finally:
            loader.shutdown()
    if errors:
        raise errors[0]
    return elapsed, got


def bench_slide(path: str | os.PathLike, *, n_tiles: int = 128, workers: int = 4, tile: int = 512,
                n_cache: int = 64, repeats: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """Run both measurements on the slide at ``path``; returns the two rows.

    The loader comparison runs ``repeats`` rounds, alternating which configuration goes first,
    each round on fresh random tiles; the per-tile times reported are medians over the rounds.
    """
    from core.slide.reader import open_slide  # local: pulls in openslide

    path = Path(path)
    rng = np.random.default_rng(seed)
    with open_slide(path) as r:
        keys = _random_tiles(r, 2 * n_tiles * repeats + n_cache, tile, rng)
        dims = r.dimensions
    cache_keys = keys[2 * n_tiles * repeats:]

    per1: list[float] = []
    pern: list[float] = []
    diff = 0
    for rep in range(repeats):
        chunk = keys[2 * n_tiles * rep: 2 * n_tiles * (rep + 1)]
        single_keys, pool_keys = chunk[:n_tiles], chunk[n_tiles:]
        order = [(1, single_keys), (workers, pool_keys)]
        for w, ks in order if rep % 2 == 0 else order[::-1]:
            elapsed, tiles = _loader_run(path, ks, w, tile)
            (per1 if w == 1 and ks is single_keys else pern).append(1e3 * elapsed / len(ks))
            if ks is pool_keys:
                diff = max(diff, _max_diff_direct(path, tiles, ks[:8], tile))
    m1, mn = statistics.median(per1), statistics.median(pern)
    rows = [{
        "case": f"loader: pool of {workers} vs 1 worker ({n_tiles} level-0 tiles of {tile} px x {repeats})",
        "ours_ms": mn, "baseline_ms": m1, "speedup": m1 / mn, "max_abs_diff": float(diff),
        "tiles_per_s": 1e3 / mn, "baseline_tiles_per_s": 1e3 / m1,
        "workers": workers, "cpus": os.cpu_count(), "load_avg_1min": _load_avg(),
        "slide": f"{path.name} {dims[0]}x{dims[1]}",
    }]

    cache = TileCache()
    with open_slide(path) as r:
        loader = TileLoader(r, cache=cache, tile_size=tile, workers=1)
        try:
            miss_ms, hit_ms, cdiff = [], [], 0
            for key in cache_keys:
                t0 = time.perf_counter()
                loader.read_tile(key)
                miss_ms.append(1e3 * (time.perf_counter() - t0))
            for key in cache_keys:
                t0 = time.perf_counter()
                b = loader.read_tile(key)
                hit_ms.append(1e3 * (time.perf_counter() - t0))
                cdiff = max(cdiff, int(np.abs(b.astype(np.int16) - loader.reader.read_region(
                    *_region(key, r, tile))).max()))
        finally:
            loader.shutdown()
    hit, miss = statistics.median(hit_ms), statistics.median(miss_ms)
    rows.append({
        "case": f"cache: hit vs miss (read_tile, {len(cache_keys)} tiles of {tile} px, medians)",
        "ours_ms": hit, "baseline_ms": miss, "speedup": miss / hit, "max_abs_diff": float(cdiff),
        "cache_hits": cache.hits, "cache_misses": cache.misses, "cache_mb": cache.nbytes / 2**20,
    })
    return rows


def bench_stain(path: str | os.PathLike, *, n_tiles: int = 32, tile: int = 512, seed: int = 1) -> list[dict[str, Any]]:
    """Tiles/s with and without stain normalisation (Macenko, Reinhard) on level-0 tiles of ``path``."""
    from core.slide.colour import ColouredSource, slide_stain_normaliser  # local: torchstain
    from core.slide.reader import open_slide  # local: pulls in openslide
    from core.slide.stain import reference_macenko, tissue_pixels

    path = Path(path)
    rows = []
    with open_slide(path) as r:
        keys = _random_tiles(r, n_tiles, tile, np.random.default_rng(seed))
        reinhard_target = tissue_pixels(r)[::-1].copy()  # the slide's own tissue: a valid LAB target
        for method, target in (("macenko", reference_macenko()), ("reinhard", reinhard_target)):
            t0 = time.perf_counter()
            norm = slide_stain_normaliser(r, method, target)
            fit_ms = 1e3 * (time.perf_counter() - t0)
            shown = ColouredSource(r, [norm])
            plain_ms, ours_ms, diff = [], [], 0
            for key in keys:
                region = _region(key, r, tile)
                t0 = time.perf_counter()
                a = r.read_region(*region)
                plain_ms.append(1e3 * (time.perf_counter() - t0))
                t0 = time.perf_counter()
                b = shown.read_region(*region)
                ours_ms.append(1e3 * (time.perf_counter() - t0))
                diff = max(diff, int(np.abs(a.astype(np.int16) - b).max()))
            mo, mb = statistics.median(ours_ms), statistics.median(plain_ms)
            rows.append({"case": f"stain normalisation: {method} vs plain reads ({n_tiles} level-0 tiles of {tile} px)",
                         "ours_ms": mo, "baseline_ms": mb, "speedup": mb / mo, "max_abs_diff": float(diff),
                         "tiles_per_s": 1e3 / mo, "baseline_tiles_per_s": 1e3 / mb, "fit_ms": fit_ms,
                         "load_avg_1min": _load_avg()})
    return rows


def _load_avg() -> float | None:
    """The 1-minute load average (``None`` where the OS has none, e.g. Windows)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _max_diff_direct(path: Path, tiles: dict[Any, np.ndarray], keys: list[Any], tile: int) -> int:
    """Largest pixel difference between loader-delivered tiles and direct reads of the same tiles."""
    from core.slide.reader import open_slide  # local: pulls in openslide

    with open_slide(path) as r:
        return max(int(np.abs(tiles[k].astype(np.int16) - r.read_region(*_region(k, r, tile))).max()) for k in keys)


def _region(key: Any, reader: Any, tile: int) -> tuple[tuple[int, int], int, tuple[int, int]]:
    ds = reader.level_downsamples[key.level]
    return ((int(round(key.col * tile * ds)), int(round(key.row * tile * ds))), key.level,
            tile_level_size(key, reader.level_dimensions, tile))


def run(quick: bool) -> list[dict[str, Any]]:
    """The slide group: on the 51200 x 51200 pyramid (8192 x 8192 and fewer tiles when ``quick``)."""
    if quick:
        path = large_slide_path(8192)
        return bench_slide(path, n_tiles=48, n_cache=16, repeats=1) + bench_stain(path, n_tiles=12)
    path = large_slide_path(51200)
    return bench_slide(path, n_tiles=128, n_cache=64, repeats=3) + bench_stain(path, n_tiles=32)
