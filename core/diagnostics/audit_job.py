"""``evident audit``'s per-slide part as a job of :mod:`core.schedule` (docs/scheduler.md): the model and
its explainers are built once per worker; each slide's :class:`core.diagnostics.audit.SlideAudit` is
kept beside its ledger record (``OUT/.evident/ledger/audit/<slide>.pkl``, written atomically) until the
cohort report is written from all of them."""

from __future__ import annotations

import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import atomic_path

__all__ = ["AuditJob", "AuditInputs", "slide_result_path", "read_slide_result"]


@dataclass(frozen=True)
class AuditInputs:
    """One slide's inputs: feature file, label index (``None``: unlabelled), survival time / event,
    annotation mask ``(N,)`` bool, patch size (level-0 px), artifact scores (``(N,)``, :class:`~core.diagnostics.artifact_detectors.ArtifactParts` or a
    :class:`~core.diagnostics.artifacts.SlideArtifactSource` scored in the job)."""

    path: str
    label: int | None = None
    time: float | None = None
    event: int | None = None
    truth: object = None
    patch_size: int | None = None
    artifacts: object = None


def slide_result_path(out_dir: str | Path, slide_id: str) -> Path:
    """Where the job keeps ``slide_id``'s result: beside its ledger record."""
    from core.schedule import Ledger  # local: the ledger's file naming, one place

    return Ledger(out_dir, "audit", "", "").record_path(slide_id).with_suffix(".pkl")


def read_slide_result(out_dir: str | Path, slide_id: str):
    """The :class:`~core.diagnostics.audit.SlideAudit` this job wrote (a file this program wrote itself)."""
    with open(slide_result_path(out_dir, slide_id), "rb") as f:
        return pickle.load(f)


@dataclass(frozen=True)
class AuditJob:
    """``config``: :class:`core.diagnostics.audit.AuditConfig`; ``risk_scale``: (mean, sd) of the cohort's
    full-bag risks (survival; (0, 1) otherwise); ``dim``: feature dimension; ``slides``: slide id ->
    :class:`AuditInputs` (not in the repr)."""

    model: str
    config: object
    risk_scale: tuple
    dim: int
    slides: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return "audit"

    def setup(self):
        """``(model, explainers, target scale)`` on the CPU, as the serial audit has always run (the
        target scale: a regression model's training-fold mean/SD, else ``None``)."""
        from core.diagnostics.audit import build_explainers  # local: torch only in the worker
        from core.models.checkpoint import load_checkpoint
        from core.models.target_scale import target_scale_of

        model, config = load_checkpoint(self.model)
        model = model.eval()
        return model, build_explainers(model, self.config.methods), target_scale_of(config)

    def input_key(self, slide_id: str) -> str:
        """The feature file's and the model checkpoint's path, size and mtime
        (:func:`core.schedule.job.stat_key`), and a digest of the slide's other inputs (label, time,
        event, patch size, annotation mask, artifact scores), which come from the manifest and the
        annotations rather than from one file."""
        from core.schedule.job import stat_key  # local: keeps this module light

        s = self.slides[slide_id]
        return stat_key(s.path, self.model, extra=_values_digest(s))

    def run(self, state, slide_id: str, out_dir: Path) -> None:
        from core.data.bags import read_bag  # local: only in the worker
        from core.diagnostics import audit

        model, explainers, target_scale = state
        s = self.slides[slide_id]
        t0 = time.perf_counter()
        bag = read_bag(s.path, feature_dim=self.dim)
        result = audit.audit_slide(model, explainers, slide_id, bag.features, bag.coords, s.label, self.config,
                                   self.risk_scale, truth=s.truth, patch_size=s.patch_size, time=s.time,
                                   event=s.event, artifact_scores=s.artifacts, target_scale=target_scale)
        with atomic_path(slide_result_path(out_dir, slide_id)) as tmp:
            tmp.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        print(f"{slide_id} ({bag.features.shape[0]} patches, {time.perf_counter() - t0:.0f} s)", file=sys.stderr,
              flush=True)


def _values_digest(s: AuditInputs) -> str:
    """sha256 (hex) of an :class:`AuditInputs`' values other than its path (arrays by dtype, shape and bytes)."""
    import hashlib

    import numpy as np  # local: only where keys are computed

    h = hashlib.sha256()
    for value in (s.label, s.time, s.event, s.patch_size, s.truth, s.artifacts):
        if value is None or isinstance(value, (int, float, str)):
            h.update(repr(value).encode())
        elif hasattr(value, "key"):  # core.diagnostics.artifacts.SlideArtifactSource: the slide file and coordinates
            h.update(value.key().encode())
        else:
            a = np.ascontiguousarray(value)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        h.update(b"|")
    return h.hexdigest()
