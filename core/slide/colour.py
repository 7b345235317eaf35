"""Display colour of slide tiles: the slide's ICC profile to sRGB ("true colour") and stain normalisation.

A :class:`TileTransform` maps an ``(h, w, 4)`` RGBA uint8 tile to another of the same shape. The
viewer and the feature extractor read tiles through :class:`ColouredSource`, which applies the
transforms in the reading thread (a tile worker, never the GUI thread) in a fixed order: first
the ICC conversion (so that every later step sees sRGB), then stain normalisation, whose per-slide
fit (:func:`slide_stain_normaliser`) is made on ICC-corrected tissue when true colour is on.

ICC: the profile comes from OpenSlide (≥ 4 reads the profile embedded by Aperio, generic TIFF and
other formats; :attr:`core.slide.reader.SlideReader.icc_profile`), the conversion is Pillow's
ImageCms (littleCMS) with the profile's default rendering intent, as OpenSlide's documentation
does, built with littleCMS's no-cache flag so that several tile workers can share it. docs/colour.md.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from core.errors import EvidentError
from core.slide.stain import (
    LabStats,
    MacenkoStains,
    StainMethod,
    StainNormaliser,
    fit_stain,
    reference_macenko,
    stained_pixels,
    tissue_pixels,
)

__all__ = ["ColouredSource", "IccToSrgb", "TileTransform", "icc_to_srgb", "slide_stain_normaliser"]


class TileTransform(Protocol):
    """``transform(rgba)`` → a new ``(h, w, 4)`` uint8 array; the input is not modified."""

    def __call__(self, rgba: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class IccToSrgb:
    """Convert tiles from an embedded ICC profile (raw bytes) to sRGB; alpha is kept."""

    profile: bytes
    _transform: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(self.profile))
        dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        transform = ImageCms.buildTransform(src, dst, "RGBA", "RGBA",
                                            renderingIntent=ImageCms.getDefaultIntent(src),
                                            flags=ImageCms.Flags.NOCACHE)
        object.__setattr__(self, "_transform", transform)

    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        from PIL import Image, ImageCms

        a = np.ascontiguousarray(rgba, dtype=np.uint8)
        if a.ndim != 3 or a.shape[2] != 4:
            raise ValueError(f"expected an (h, w, 4) RGBA tile, got {a.shape}")
        out = np.asarray(ImageCms.applyTransform(Image.fromarray(a, "RGBA"), self._transform)).copy()
        out[..., 3] = a[..., 3]
        return out


def icc_to_srgb(reader) -> IccToSrgb | None:
    """The true-colour transform of ``reader``'s slide, or ``None`` when it has no embedded profile.

    A profile littleCMS cannot use raises one :class:`EvidentError` naming the slide.
    """
    profile = getattr(reader, "icc_profile", None)
    if not profile:
        return None
    from PIL import ImageCms

    try:
        return IccToSrgb(bytes(profile))
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        raise EvidentError(reader.path, f"its embedded ICC colour profile cannot be used ({exc})") from None


def slide_stain_normaliser(reader, method: StainMethod, target: np.ndarray | MacenkoStains | LabStats | None = None,
                           *, before: TileTransform | None = None) -> StainNormaliser:
    """Fit ``method`` on the slide's tissue (after ``before``, e.g. its ICC transform) and map it to ``target``.

    ``target``: the reference image, ``(..., 3|4)`` uint8, fitted on its stained pixels
    (:func:`core.slide.stain.stained_pixels`) like the slide; or a fit already made; or ``None`` for
    Macenko's standard reference stain (:func:`core.slide.stain.reference_macenko`; Reinhard has no
    standard target and needs an image). A slide or target with too little stain to fit raises
    :class:`EvidentError` naming the slide.
    """
    tissue = tissue_pixels(reader)
    if before is not None and len(tissue):
        rgba = np.concatenate([tissue, np.full((len(tissue), 1), 255, np.uint8)], axis=1)[None]
        tissue = before(rgba)[0, :, :3]
    try:
        if target is None:
            if method != "macenko":
                raise EvidentError(reader.path, f"{method} stain normalisation needs a target image")
            fitted_target = reference_macenko()
        elif isinstance(target, MacenkoStains | LabStats):
            fitted_target = target
        else:
            fitted_target = fit_stain(method, stained_pixels(target))
        return StainNormaliser(method, fit_stain(method, tissue), fitted_target)
    except ValueError as exc:
        raise EvidentError(reader.path, f"cannot fit {method} stain normalisation ({exc})") from None


class ColouredSource:
    """A tile source (:class:`core.slide.loader.TileSource`) reading ``reader`` through ``transforms``.

    Everything else (``dimensions``, ``level_count``, ``path``, ``get_thumbnail``...) is the
    reader's; ``read_region`` and ``get_thumbnail`` return transformed pixels.
    """

    def __init__(self, reader, transforms: Sequence[TileTransform] = ()) -> None:
        self.reader = reader
        self.transforms = tuple(transforms)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)

    def _apply(self, rgba: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            rgba = transform(rgba)
        return rgba

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """``(h, w, 4)`` uint8, transformed; see :meth:`core.slide.reader.SlideReader.read_region`."""
        return self._apply(self.reader.read_region(location, level, size))

    def get_thumbnail(self, max_size: tuple[int, int]) -> np.ndarray:
        thumb = np.asarray(self.reader.get_thumbnail(max_size))
        if not self.transforms:
            return thumb
        rgba = thumb if thumb.shape[-1] == 4 else np.dstack([thumb, np.full(thumb.shape[:2], 255, np.uint8)])
        out = self._apply(rgba)
        return out if thumb.shape[-1] == 4 else out[..., :3]
