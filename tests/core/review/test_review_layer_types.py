"""Layers are distinct types (scalar map, subset, region) sharing a base; code dispatches on the type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

from core.review.layers import (
    LAYER_TYPES,
    Layer,
    RegionLayer,
    ScalarLayer,
    SubsetLayer,
    regions_layer,
    scalar_layer,
    subset_layer,
)


def test_factories_make_the_distinct_types_with_only_their_own_data():
    s = scalar_layer("attention", np.array([0.1, 0.5, 0.2]))
    k = subset_layer("subset: gce", np.array([2, 0, 2]))
    r = regions_layer("tumour", shapely.box(0, 0, 10, 10))
    assert (type(s), type(k), type(r)) == (ScalarLayer, SubsetLayer, RegionLayer)
    assert all(isinstance(x, Layer) for x in (s, k, r))
    assert not hasattr(s, "indices") and not hasattr(k, "values") and not hasattr(k, "geometry")
    assert k.indices.tolist() == [0, 2] and not k.indices.flags.writeable and not s.values.flags.writeable
    assert {"scalar": ScalarLayer, "subset": SubsetLayer, "regions": RegionLayer} == LAYER_TYPES


def test_with_settings_keeps_the_type_and_the_data():
    k = subset_layer("subset: gce", np.array([1, 3]))
    k2 = k.with_settings(color=(1, 2, 3), filled=True)
    assert type(k2) is SubsetLayer and k2.indices is k.indices and k2.settings.color == (1, 2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        k2.name = "other"


def test_the_base_is_not_a_layer_of_its_own_and_the_data_is_required():
    with pytest.raises(TypeError, match="ScalarLayer, SubsetLayer or RegionLayer"):
        Layer(name="x")
    with pytest.raises(TypeError):
        ScalarLayer(name="x")  # no values
    with pytest.raises(TypeError):
        SubsetLayer(name="x")  # no indices


def test_match_dispatches_on_the_type():
    def describe(layer):
        match layer:
            case ScalarLayer():
                return f"map of {layer.values.size}"
            case SubsetLayer():
                return f"{layer.indices.size} patches"
            case RegionLayer():
                return f"area {layer.geometry.area:g}"

    assert describe(scalar_layer("a", np.zeros(4))) == "map of 4"
    assert describe(subset_layer("b", np.arange(3))) == "3 patches"
    assert describe(regions_layer("c", shapely.box(0, 0, 2, 3))) == "area 6"
