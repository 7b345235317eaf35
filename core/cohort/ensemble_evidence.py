"""One slide's ensemble maps as evidence-file scores (docs/ensemble_maps.md).

For each method ``m``, three maps go to ``/scores`` (layout: :mod:`core.evidence.evidence_file`):
``m_ensemble_mean`` (map units), ``m_ensemble_std`` (the per-patch spread, map units) and
``m_ensemble_rank_spread`` (std of the patch's percentile rank, 0–100), each with the attributes
:data:`ATTRS` describes. Statistics: :mod:`core.diagnostics.ensemble_maps`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import torch

from core.cohort.ensemble_runs import EnsembleMember, select_members
from core.diagnostics.ensemble_maps import ensemble_stats, member_maps
from core.evidence.evidence_file import Evidence
from core.models.access import as_tensor_bag, bag_output

__all__ = ["ATTRS", "SUFFIXES", "ensemble_evidence"]

#: The three maps written per method, by suffix.
SUFFIXES = ("_ensemble_mean", "_ensemble_std", "_ensemble_rank_spread")
#: The attributes on every ensemble map.
ATTRS = {
    "ensemble_method": "the explanation method of the member maps",
    "ensemble_statistic": "mean, std or rank_spread",
    "members": "JSON list of the member names (<run>/fold_<r>_<k>) whose maps were used",
    "n_members": "how many",
    "out_of_fold": "1: only members whose test set held the slide; 0: fewer than min_members held it out, all were used",
    "n_out_of_fold": "how many members held the slide out (whether or not they were enough)",
    "target": "the explained output (the same for every member)",
    "rank_agreement": "mean pairwise Spearman rho of the member maps (NaN: fewer than 2 members)",
    "ensemble_prediction": "JSON list: the members' mean class probabilities (or mean risk)",
}


def ensemble_evidence(slide_id: str, features: np.ndarray, coords: np.ndarray, members: list[EnsembleMember],
                      models: Mapping[str, torch.nn.Module], methods: list[str], *, task: str,
                      classes: tuple[str, ...] = (), target: int | None = None, device="cpu",
                      options: Mapping[str, dict] | None = None, with_prediction: bool = False,
                      min_members: int = 2) -> Evidence:
    """The ensemble maps of one slide.

    Parameters
    ----------
    features, coords
        (N, d) features and (N, 2) level-0 patch corners.
    members, models
        Every ensemble member and its loaded model (by member name, eval mode, on ``device``).
    target
        The explained class; ``None``: the class the selected members' mean probability ranks first
        (survival/regression: output 0).
    options
        Explainer keyword arguments by method.
    min_members
        Out-of-fold members are used only when at least this many held the slide out
        (:func:`core.cohort.ensemble_runs.select_members`).
    with_prediction
        Also set the prediction (the members' mean probabilities / risk): for a new evidence file.

    Returns
    -------
    Evidence
        Scores ``<method><suffix>`` for every method and :data:`SUFFIXES` with their attributes; no
        model name (so it merges into any evidence file of the slide) and, unless
        ``with_prediction``, no prediction (the members' mean prediction is in the attribute
        ``ensemble_prediction``).
    """
    chosen, oof = select_members(members, slide_id, min_members)
    n_oof = sum(slide_id in m.test_slides for m in members)
    nets = [models[m.name] for m in chosen]
    x, c = as_tensor_bag(features, coords, device)
    with torch.no_grad():
        outs = np.stack([bag_output(net, x, c).double().cpu().numpy() for net in nets])  # (F, C)
    if task == "classification":
        z = np.exp(outs - outs.max(axis=1, keepdims=True))
        pred = (z / z.sum(axis=1, keepdims=True)).mean(axis=0)
        explained = int(np.argmax(pred)) if target is None else int(target)
    else:
        pred = outs[:, :1].mean(axis=0)
        explained = 0 if target is None else int(target)
    scores, attrs = {}, {}
    for method in methods:
        stats = ensemble_stats(member_maps(nets, features, coords, method, explained, device=device,
                                           options=(options or {}).get(method)))
        common = {"ensemble_method": method, "members": json.dumps([m.name for m in chosen]),
                  "n_members": len(chosen), "out_of_fold": int(oof), "n_out_of_fold": n_oof,
                  "target": explained,
                  "rank_agreement": stats.rank_agreement, "ensemble_prediction": json.dumps(pred.tolist())}
        for suffix, values, stat in zip(SUFFIXES, (stats.mean, stats.std, stats.rank_spread),
                                        ("mean", "std", "rank_spread"), strict=True):
            scores[method + suffix] = values.astype(np.float32)
            attrs[method + suffix] = {**common, "ensemble_statistic": stat}
    predicted = {}
    if with_prediction:
        predicted = ({"probs": pred.astype(np.float32), "predicted_class": int(np.argmax(pred))}
                     if task == "classification" else {"risk": pred.astype(np.float32)})
    return Evidence(slide_id=slide_id, coords=np.asarray(coords, dtype=np.int64), task=task, classes=tuple(classes),
                    scores=scores, score_attrs=attrs, **predicted)
