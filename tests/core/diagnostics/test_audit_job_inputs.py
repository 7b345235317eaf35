"""``AuditJob.input_key`` (the scheduler's per-slide input key, docs/scheduler.md): it follows the
feature file, the model file and the slide's other inputs (label, survival, annotation mask, artifacts)."""

from __future__ import annotations

import os

import numpy as np

from core.diagnostics.audit_job import AuditInputs, AuditJob


def _bump(path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_audit_input_key_follows_every_input_of_the_slide(tmp_path):
    feats, model = tmp_path / "s.h5", tmp_path / "m.pt"
    feats.write_bytes(b"features")
    model.write_bytes(b"model")
    truth = np.array([True, False, True])

    def job(**kw) -> AuditJob:
        inputs = {"path": str(feats), "label": 1, "truth": truth, "patch_size": 256, **kw}
        return AuditJob(model=str(model), config=None, risk_scale=(0.0, 1.0), dim=6, slides={"s": AuditInputs(**inputs)})

    key = job().input_key("s")
    assert job().input_key("s") == key and job(truth=truth.copy()).input_key("s") == key
    changed = [job(label=0), job(truth=np.array([True, True, True])), job(time=3.5, event=1), job(patch_size=512),
               job(artifacts=np.zeros(3, np.float32)), job(truth=truth.astype(np.uint8))]
    keys = {j.input_key("s") for j in changed}
    assert key not in keys and len(keys) == len(changed)
    _bump(feats)
    assert job().input_key("s") != key
    key = job().input_key("s")
    _bump(model)
    assert job().input_key("s") != key
