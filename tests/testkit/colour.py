"""Test colour material: a non-sRGB ICC profile written byte by byte, and slides that carry one.

:func:`matrix_trc_profile` writes an ICC v2 RGB display profile with colorant matrix and gamma
curves (ICC.1:2001-04 §6: header, tag table, ``desc``/``wtpt``/``rXYZ``/``gXYZ``/``bXYZ``/
``rTRC``/``gTRC``/``bTRC``/``cprt``), so a test needs no profile file from the system.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["ADOBE_RGB_D50", "D50", "SRGB_D50", "expected_srgb", "matrix_trc_profile", "write_tiff_with_profile"]

D50 = (0.9642, 1.0, 0.8249)
#: colorants (columns R, G, B) of Adobe RGB (1998) adapted to D50, as in Adobe's own profile
ADOBE_RGB_D50 = np.array([[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]])
#: colorants of sRGB adapted to D50 (littleCMS's built-in sRGB profile)
SRGB_D50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def _curve(gamma: float) -> bytes:
    return b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", int(round(gamma * 256))) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
    body += struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67  # no Unicode, no ScriptCode
    return body


def _text(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def matrix_trc_profile(colorants: np.ndarray = ADOBE_RGB_D50, gamma: float = 563 / 256,
                       name: str = "Evident test RGB") -> bytes:
    """An ICC v2 RGB display profile: ``colorants`` (3 × 3, columns R, G, B; XYZ under D50) and one
    gamma for the three channels. The default is Adobe RGB (1998) (gamma 2.19921875)."""
    tags = [
        (b"desc", _desc(name)),
        (b"wtpt", _xyz(*D50)),
        (b"rXYZ", _xyz(*colorants[:, 0])),
        (b"gXYZ", _xyz(*colorants[:, 1])),
        (b"bXYZ", _xyz(*colorants[:, 2])),
        (b"rTRC", _curve(gamma)),
        (b"gTRC", _curve(gamma)),
        (b"bTRC", _curve(gamma)),
        (b"cprt", _text("No copyright, test data")),
    ]
    table_len = 4 + 12 * len(tags)
    offset = 128 + table_len
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + table_len + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntr" + b"RGB " + b"XYZ "
              + b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0)
              + _s15(D50[0]) + _s15(D50[1]) + _s15(D50[2]) + b"lcms" + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + table + data


def expected_srgb(rgb: np.ndarray, colorants: np.ndarray = ADOBE_RGB_D50, gamma: float = 563 / 256) -> np.ndarray:
    """What a relative-colorimetric conversion of ``rgb`` ((n, 3) uint8) in the profile above to sRGB
    gives, computed independently of littleCMS: decode the gamma, to XYZ (D50) with the colorants,
    back with sRGB's D50 colorants, sRGB's transfer curve; clipped. (n, 3) float in 0-255."""
    lin = (rgb.astype(np.float64) / 255) ** gamma
    xyz = lin @ colorants.T
    srgb_lin = np.clip(xyz @ np.linalg.inv(SRGB_D50).T, 0, 1)
    enc = np.where(srgb_lin <= 0.0031308, 12.92 * srgb_lin, 1.055 * srgb_lin ** (1 / 2.4) - 0.055)
    return enc * 255


def write_tiff_with_profile(path: Path, rgb: np.ndarray, profile: bytes | None, *, mpp: float = 0.5) -> Path:
    """A tiled TIFF (generic-tiff for OpenSlide) of ``rgb`` (h, w, 3) uint8 with ``profile`` embedded
    (TIFF tag 34675 InterColorProfile) and resolution tags for ``mpp`` µm/px."""
    import tifffile

    extratags = [] if profile is None else [(34675, 7, len(profile), profile, True)]
    res = 10_000 / mpp  # pixels per cm
    tifffile.imwrite(path, rgb, tile=(256, 256), photometric="rgb", extratags=extratags,
                     resolution=(res, res), resolutionunit="CENTIMETER")
    return path
