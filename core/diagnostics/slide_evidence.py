"""One slide's full evidence record under a GCE model (what ``evident recover`` writes per slide)."""

from __future__ import annotations

import numpy as np
import torch

from core.data.bag import FeatureBag
from core.diagnostics.cohort_snr import slide_outputs
from core.evidence.evidence_file import Evidence, Subset
from core.models.gce import GCEModel
from core.models.subset_rules import attention_topk, gce_evidence

__all__ = ["slide_evidence"]


def _phi_numbers(row: dict, task: str) -> dict[str, float]:
    """Per-slide keep-only drop, complement degradation and C-D gap (classification: Φ = probability
    of the full bag's class; survival: raw risk differences; regression: absolute changes of the
    output in target-SD units)."""
    if task == "classification":
        k = int(np.argmax(row["full"]))
        phi = lambda v: float(np.exp(v[k] - v.max()) / np.exp(v - v.max()).sum())
    else:
        phi = lambda v: float(v[0])
    change = abs if task == "regression" else (lambda d: d)
    full, keep = phi(row["full"]), phi(row["keep"])
    out = {"phi_full": full, "phi_keep": keep, "keep_only_drop": change(full - keep), "cd_gap": abs(full - keep),
           "evidence_fraction": float(row["fraction"])}
    if row["comp"] is not None:
        out["phi_complement"] = phi(row["comp"])
        out["complement_degradation"] = change(full - out["phi_complement"])
    return out


@torch.no_grad()
def slide_evidence(
    model: GCEModel,
    bag: FeatureBag,
    *,
    task: str,
    classes: tuple[str, ...] = (),
    prompts: tuple[str, ...] = (),
    max_size: int | None = None,
    device: torch.device | str = "cpu",
    model_name: str = "",
) -> Evidence:
    """Predict, gate, recover and measure one slide.

    Parameters
    ----------
    model
        A :class:`core.models.gce.GCEModel` in eval mode on ``device``.
    bag
        The slide's features (N, d) and coords (N, 2).

    Returns
    -------
    Evidence
        Prediction, gates, responses, soft coverage, scores ``gate`` and (where the host has it)
        ``attention``, subsets ``recovered`` (with the stop reason) and ``threshold``, plus
        ``attention_topk`` of the same size as ``recovered``; S/N/R numbers per subset.
    """
    x = torch.as_tensor(bag.features, dtype=torch.float32, device=device)  # (N, d)
    c = torch.as_tensor(bag.coords, device=device)  # (N, 2)
    rec, out = gce_evidence(model, x, c, max_size=max_size)
    gates = out.gates.float().cpu().numpy()
    output = out.host.output.cpu().double().numpy()
    thr = np.flatnonzero(gates > model.config.threshold)
    subsets = {
        "recovered": Subset(rec.indices, rec.stop_reason, rec.coverage, rec.n_threshold),
        "threshold": Subset(thr.astype(np.int64), "threshold"),
    }
    scores = {"gate": gates}
    host_att = model.host(x, c).attention
    if host_att is not None:
        scores["attention"] = host_att.float().cpu().numpy()
        top = attention_topk(model, x, c, int(rec.indices.size))
        subsets["attention_topk"] = Subset(top, "budget")
    snr = {}
    for name in ("recovered", "attention_topk"):
        if name in subsets and subsets[name].indices.size:
            snr[name] = _phi_numbers(slide_outputs(model, x, c, subsets[name].indices), task)
    is_cls = task == "classification"
    probs = np.exp(output - output.max()) / np.exp(output - output.max()).sum() if is_cls else None
    return Evidence(
        slide_id=bag.slide_id, coords=np.asarray(bag.coords, dtype=np.int64), task=task, classes=tuple(classes),
        predicted_class=int(np.argmax(output)) if is_cls else -1, probs=probs, risk=None if is_cls else output[:1],
        scores=scores, gates=gates, responses=out.responses.float().cpu().numpy(),
        coverage=out.coverage.float().cpu().numpy(), prompts=tuple(prompts), subsets=subsets, snr=snr,
        model=model_name, anchor_digest=model.anchor_digest,
    )
