"""Ensemble maps: the statistics (a planted disagreement shows in the spread exactly there; identical
maps give back the map) and the out-of-fold choice of members."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cohort.ensemble_runs import EnsembleMember, read_members, select_members
from core.diagnostics.ensemble_maps import ensemble_stats
from core.errors import EvidentError


def test_planted_disagreement_shows_in_the_spread_exactly_there() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(200)
    maps = np.stack([base, base + 0.001 * rng.standard_normal(200), base.copy()])
    planted = np.array([7, 50, 51, 120, 199])
    maps[2, planted] += 3.0  # one fold's map differs on these patches only
    s = ensemble_stats(maps)
    top = np.sort(np.argsort(-s.std)[: planted.size])
    assert np.array_equal(top, planted)
    assert s.std[planted].min() > 100 * np.delete(s.std, planted).max()
    assert np.array_equal(np.sort(np.argsort(-s.rank_spread)[: planted.size]), planted)
    assert s.n_members == 3 and 0.5 < s.rank_agreement < 1.0


def test_mean_of_identical_maps_is_the_map() -> None:
    m = np.random.default_rng(1).normal(size=64)
    s = ensemble_stats(np.stack([m, m, m]))
    np.testing.assert_allclose(s.mean, m, rtol=0, atol=1e-12)
    assert np.abs(s.std).max() < 1e-12 and np.abs(s.rank_spread).max() < 1e-9
    assert s.rank_agreement == pytest.approx(1.0)
    one = ensemble_stats(m[None])
    assert np.isnan(one.rank_agreement) and np.all(one.std == 0)


def test_stats_refuse_bad_shapes() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        ensemble_stats(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"\(F, N\)"):
        ensemble_stats(np.zeros(4))


def test_out_of_fold_selection_uses_only_folds_whose_test_set_holds_the_slide() -> None:
    tests = {(0, 0): {"a", "b"}, (0, 1): {"c"}, (0, 2): {"d"}, (1, 0): {"c", "d"}, (1, 1): {"a"}, (1, 2): {"b"}}
    members = [EnsembleMember(f"run/fold_{r}_{k}", Path(f"m{r}{k}.pt"), frozenset(t)) for (r, k), t in tests.items()]
    chosen, oof = select_members(members, "c")
    assert oof and [m.name for m in chosen] == ["run/fold_0_1", "run/fold_1_0"]
    chosen, oof = select_members(members, "external")
    assert not oof and chosen == members
    chosen, oof = select_members(members, "c", min_members=3)  # two held it out: not enough for 3
    assert not oof and chosen == members
    chosen, oof = select_members(members, "d", min_members=1)
    assert oof and [m.name for m in chosen] == ["run/fold_0_2", "run/fold_1_0"]


def test_read_members_refuses_an_unfinished_fold(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "fold_0_0").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "fold_0_0" / "model.pt").write_bytes(b"")
    with pytest.raises(EvidentError, match="unfinished fold") as e:
        read_members([run])
    assert "fold_0_0" in str(e.value)
    with pytest.raises(EvidentError, match="not an `evident train` run folder"):
        read_members([tmp_path])


def test_score_attributes_round_trip_and_go_with_a_replaced_map(tmp_path: Path) -> None:
    from core.evidence.evidence_file import Evidence, add_scores, merge_into_file, read_evidence, write_evidence

    coords = np.arange(8, dtype=np.int64).reshape(4, 2) * 256
    p = tmp_path / "s.evidence.h5"
    write_evidence(p, Evidence("s", coords, scores={"a": np.ones(4), "b": np.zeros(4)},
                               score_attrs={"a": {"n_members": 3, "members": '["x"]', "rank_agreement": 0.5}}))
    assert read_evidence(p).score_attrs == {"a": {"n_members": 3, "members": '["x"]', "rank_agreement": 0.5}}
    merge_into_file(p, Evidence("s", coords, scores={"b": np.ones(4)}, score_attrs={"b": {"n_members": 2}}))
    assert read_evidence(p).score_attrs == {"a": {"n_members": 3, "members": '["x"]', "rank_agreement": 0.5},
                                            "b": {"n_members": 2}}
    merge_into_file(p, Evidence("s", coords, scores={"a": np.zeros(4)}))  # a new map without attributes
    add_scores(p, "b", np.zeros(4))
    assert read_evidence(p).score_attrs == {}
    with pytest.raises(EvidentError, match="attributes for scores the file does not hold"):
        write_evidence(p, Evidence("s", coords, score_attrs={"zz": {"n": 1}}))


def test_three_fold_models_one_planted_to_differ_on_marked_patches() -> None:
    """Three ABMIL 'fold models', the third differing only in how it embeds a marker feature that
    20 patches carry: the attention spread is highest exactly on those patches."""
    import copy

    import torch

    from core.cohort.ensemble_evidence import ensemble_evidence
    from testkit.explain import abmil

    rng = np.random.default_rng(4)
    n, marked = 300, np.sort(rng.choice(300, 20, replace=False))
    x = rng.normal(size=(n, 6)).astype(np.float32)
    x[:, 5] = 0.0
    x[marked, 5] = 1.0  # the marker feature
    coords = np.stack([np.arange(n) % 20, np.arange(n) // 20], 1).astype(np.int64) * 256
    base = abmil(d=6, c=2, seed=0)
    with torch.no_grad():
        base.fc[0].weight[:, 5] = 0.0  # the marker means nothing to folds 1 and 2
    planted = copy.deepcopy(base)
    with torch.no_grad():
        planted.fc[0].weight[:, 5] = torch.linspace(-3.0, 3.0, planted.fc[0].weight.shape[0])
    models = {"run/fold_0_0": base, "run/fold_0_1": copy.deepcopy(base), "run/fold_0_2": planted}
    members = [EnsembleMember(k, Path(f"{k}.pt"), frozenset({"s"})) for k in models]
    ev = ensemble_evidence("s", x, coords, members, models, ["attention"], task="classification", target=1)
    std = ev.scores["attention_ensemble_std"]
    assert np.array_equal(np.sort(np.argsort(-std)[: marked.size]), marked)
    same = ensemble_evidence("s", x, coords, members[:2], {k: models[k] for k in list(models)[:2]}, ["attention"],
                             task="classification", target=1)
    np.testing.assert_allclose(same.scores["attention_ensemble_mean"],
                               base.forward(torch.as_tensor(x), None).attention.detach().numpy(), atol=1e-6)
    assert np.abs(same.scores["attention_ensemble_std"]).max() < 1e-7
