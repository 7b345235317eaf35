"""The exported figure: exact pixel width (colorbar included) and white, not black, outside the slide."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.review.export import render_figure
from core.review.normalise import colormap_lut


class _HalfSlide:
    """A 1000 x 500 px slide of mid-grey; read_region is transparent (0, 0, 0, 0) outside it, as OpenSlide."""

    dimensions = (1000, 500)
    level_downsamples = (1.0,)
    mpp = 0.5

    def best_level_for_downsample(self, ds):
        return 0

    def read_region(self, location, level, size):
        x0, y0 = location
        w, h = size
        out = np.zeros((h, w, 4), np.uint8)
        xs, ys = np.arange(x0, x0 + w), np.arange(y0, y0 + h)
        inside = (ys[:, None] >= 0) & (ys[:, None] < 500) & (xs[None, :] >= 0) & (xs[None, :] < 1000)
        out[inside] = (128, 128, 128, 255)
        return out


@pytest.mark.parametrize("with_colorbar", [False, True])
@pytest.mark.parametrize("width", [2000, 777])
def test_figure_is_exactly_the_asked_width(tmp_path, with_colorbar, width):
    out = tmp_path / "fig.png"
    render_figure(out, _HalfSlide(), (0, 0, 1000, 500), width_px=width,
                  lut=colormap_lut("viridis") if with_colorbar else None, colorbar_ends=("lo", "hi"))
    with Image.open(out) as im:
        w, h = im.size
    assert w == width
    bar = min(160, width // 4) if with_colorbar else 0
    assert h == round((width - bar) * 500 / 1000)


def test_outside_the_slide_is_white_not_black(tmp_path):
    out = tmp_path / "fig.png"
    # the view shows x 500..1500: the right half lies outside the 1000-px-wide slide
    render_figure(out, _HalfSlide(), (500, 0, 1500, 500), width_px=400)
    with Image.open(out) as im:
        img = np.asarray(im.convert("RGB")).astype(int)
    h, w = img.shape[:2]
    right = img[h // 4: h // 2, int(0.75 * w):]  # outside the slide (clear of the scale bar)
    left = img[h // 4: h // 2, : int(0.25 * w)]   # slide tissue
    assert (right == 255).all()
    assert np.abs(left - 128).max() <= 2
