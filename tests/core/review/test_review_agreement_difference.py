"""Agreement numbers and A − B difference maps against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from core.review.agreement import agreement, top_k
from core.review.difference import difference, difference_layer
from core.review.layers import ScalarLayer, scalar_layer


def test_agreement_hand_computed():
    a = np.array([0.9, 0.8, 0.1, 0.5, 0.3])  # top-2: {0, 1}; top-3: {0, 1, 3}
    b = np.array([0.7, 0.1, 0.9, 0.6, 0.2])  # top-2: {2, 0}; top-3: {2, 0, 3}
    r2 = agreement(a, b, 2)
    assert (r2.k, r2.n, r2.overlap) == (2, 5, 1)
    assert r2.overlap_fraction == pytest.approx(0.5)
    assert r2.jaccard == pytest.approx(1 / 3)
    r3 = agreement(a, b, 3)
    assert r3.overlap == 2 and r3.jaccard == pytest.approx(2 / 4)
    # ranks a: [5, 4, 1, 3, 2], b: [4, 1, 5, 3, 2]; d = [1, 3, -4, 0, 0]; rho = 1 - 6*26/(5*24)
    assert r3.spearman == pytest.approx(1 - 6 * 26 / 120)
    assert "Jaccard 0.500" in r3.describe()


def test_agreement_identical_reversed_nan_and_errors():
    a = np.arange(10.0)
    same = agreement(a, a * 3 + 1, 4)
    assert same.jaccard == 1.0 and same.spearman == pytest.approx(1.0)
    rev = agreement(a, -a, 4)
    assert rev.overlap == 0 and rev.spearman == pytest.approx(-1.0)
    b = a.copy()
    b[9] = np.nan  # patch 9 is dropped from both maps
    r = agreement(a, b, 3)
    assert r.n == 9 and r.overlap == 3
    assert agreement(a, a, 50).k == 10  # k clipped to N
    assert np.isnan(agreement(np.ones(4), a[:4], 2).spearman)  # constant map: no correlation
    with pytest.raises(ValueError):
        agreement(a, a[:5], 2)
    with pytest.raises(ValueError):
        agreement(a, a, 0)
    assert top_k(np.array([1.0, 3.0, 3.0, np.nan]), 2).tolist() == [1, 2]


def test_difference_rank_normalised():
    a = np.array([10.0, 20.0, 30.0])  # ranks -> [0, 0.5, 1]
    b = np.array([0.3, 0.2, 0.1])  # ranks -> [1, 0.5, 0]
    np.testing.assert_allclose(difference(a, b), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(difference(a, a * 1000), 0.0)  # scale does not matter under ranks
    np.testing.assert_allclose(difference(np.array([0.0, 1.0, 3.0]), np.zeros(3) + [0, 0, 1], "minmax"),
                               [0.0, 1 / 3, 0.0])
    with pytest.raises(ValueError):
        difference(a, b, "nonsense")
    with pytest.raises(ValueError):
        difference(a, b[:2])


def test_difference_layer_is_signed_and_diverging():
    la = scalar_layer("attention", np.array([1.0, 2.0, 3.0, 4.0]))
    lb = scalar_layer("gate", np.array([4.0, 3.0, 2.0, 1.0]))
    d = difference_layer(la, lb)
    assert d.name == "attention − gate" and isinstance(d, ScalarLayer)
    assert d.settings.colormap == "RdBu_r" and (d.settings.vmin, d.settings.vmax) == (-1.0, 1.0)
    np.testing.assert_allclose(d.values, [-1, -1 / 3, 1 / 3, 1])
    assert "A − B" in d.units


def test_bimodality_coefficient():
    from core.review.agreement import bimodality_coefficient

    rng = np.random.default_rng(0)
    two = np.concatenate([rng.normal(0.05, 0.02, 500), rng.normal(0.95, 0.02, 500)])
    one = rng.normal(0.5, 0.1, 1000)
    uni = np.linspace(0, 1, 20001)
    assert bimodality_coefficient(two) > 0.9 and bimodality_coefficient(one) < 0.4
    assert bimodality_coefficient(uni) == pytest.approx(5 / 9, abs=2e-3)
    # a hand-computed case: x = [0, 0, 1, 1] has g = 0 and k = -6 (bias-corrected), n = 4
    assert bimodality_coefficient(np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(1 / (-6 + 3 * 9 / 2))
    assert np.isnan(bimodality_coefficient(np.ones(10))) and np.isnan(bimodality_coefficient(np.arange(3.0)))
