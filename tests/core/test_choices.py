"""Closed option sets refuse a typo at once, with a message naming the option and the choices."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from core.choices import check_choice, choices


def test_check_choice_returns_a_known_value_and_names_the_option_for_a_typo():
    Mode = Literal["a", "b"]
    assert choices(Mode) == ("a", "b")
    assert check_choice("b", Mode, "mode") == "b"
    with pytest.raises(ValueError, match=r"unknown mode 'c' \(use one of: a, b\)"):
        check_choice("c", Mode, "mode")
    with pytest.raises(TypeError, match="not a Literal"):
        choices(str)


def test_recovery_shortlist_by_typo_is_an_error_not_gate():
    from core.evidence.recovery import recover

    rng = np.random.default_rng(0)
    p, r = rng.random(40), rng.random((40, 4)) * 0.2
    kw = dict(shortlist=10, coverage_target=0.999)
    assert recover(p, r, np.ones(4), shortlist_by="gate", **kw).indices.size > 0
    with pytest.raises(ValueError, match=r"unknown shortlist_by 'gates' \(use one of: gain, gate\)"):
        recover(p, r, np.ones(4), shortlist_by="gates", **kw)


def test_normalisation_typo_is_refused_even_when_no_value_is_finite():
    from core.review.normalise import NORM_MODES, normalise

    assert NORM_MODES == ("percentile", "rank", "minmax", "manual", "centered")
    with pytest.raises(ValueError, match="unknown normalisation 'min-max'"):
        normalise(np.array([np.nan, np.nan]), "min-max")


@pytest.mark.parametrize("make", [
    lambda: __import__("core.models.base", fromlist=["HostConfig"]).HostConfig(4, 1, task="survial"),
    lambda: __import__("core.train.cohort", fromlist=["x"]).cohort_from_arrays(
        [np.zeros((2, 3), np.float32)], [0], "survial", ("a",)),
])
def test_task_typo_is_refused(make):
    with pytest.raises(ValueError, match=r"unknown task 'survial' \(use one of: classification, survival, regression\)"):
        make()


@pytest.mark.parametrize("field, typo", [("bridge", "constraned"), ("budget_form", "square"),
                                         ("nu_mode", "quantiles"), ("coverage_loss", "labels"),
                                         ("ground_on", "positives")])
def test_gce_option_typo_is_refused(field, typo):
    from core.models.gce_config import GCEConfig

    with pytest.raises(ValueError, match=rf"unknown {field} '{typo}' \(use one of: "):
        GCEConfig(**{field: typo})
