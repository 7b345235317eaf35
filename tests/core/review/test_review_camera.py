"""The Qt-free camera the slide views follow: centre in level-0 px, zoom in screen px per level-0 px."""

from __future__ import annotations

import math

import pytest

from core.review.camera import Camera


def test_set_emits_once_with_its_source_and_not_for_the_same_place():
    cam, seen = Camera(), []
    cam.changed.connect(lambda source: seen.append((source, cam.centre, cam.scale)))
    assert not cam.is_set
    owner = object()
    assert cam.set((100.0, 50.0), 0.5, source=owner)
    assert seen == [(owner, (100.0, 50.0), 0.5)] and cam.is_set
    assert not cam.set((100.0 + 1e-9, 50.0), 0.5)  # a billionth of a level-0 px at 0.5: no echo
    assert not cam.set(scale=0.5 * (1 + 1e-12))
    assert cam.set(scale=1.0)  # keeps the centre
    assert seen[-1] == (None, (100.0, 50.0), 1.0) and len(seen) == 2


def test_first_set_emits_even_at_the_default_place():
    cam, seen = Camera(), []
    cam.changed.connect(seen.append)
    assert cam.set((0.0, 0.0), 1.0) and seen == [None]


@pytest.mark.parametrize("centre, scale", [((math.nan, 0.0), 1.0), ((0.0, math.inf), 1.0), ((0.0, 0.0), 0.0),
                                           ((0.0, 0.0), -2.0), ((0.0, 0.0), math.nan)])
def test_bad_values_raise_and_leave_the_camera(centre, scale):
    cam = Camera()
    cam.set((10.0, 20.0), 2.0)
    with pytest.raises(ValueError, match="camera"):
        cam.set(centre, scale)
    assert (cam.centre, cam.scale) == ((10.0, 20.0), 2.0)


def test_viewport_is_the_screen_size_over_the_scale_about_the_centre():
    cam = Camera()
    cam.set((1000.0, 400.0), 0.25)
    x0, y0, x1, y1 = cam.viewport(800, 600)
    assert (x1 - x0, y1 - y0) == pytest.approx((3200.0, 2400.0))
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((1000.0, 400.0))
