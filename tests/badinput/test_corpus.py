"""Every case of the bad-input corpus: exit 2, one ``error: <file>: …`` line, no traceback, nothing changed.

The CLI runs in-process (``core.cli.main``, the ``evident`` entry point itself) for the whole corpus;
a handful of cases also run as real subprocesses (``python -m core.cli``) to check the same on the
process boundary (stderr as a user sees it, exit status, Python's own warning printing).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from corpus import CASES, Fixtures  # noqa: E402

from core.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SUBPROCESS_CASES = ("slide-truncated-1000", "bag-declares-200Mx1024", "annotation-nan-coordinate",
                    "annotation-nested-100000-deep", "checkpoint-hostile-pickle", "slide-name-too-long",
                    "slide-tiff-declares-200000px-thumbnail", "out-is-a-file-audit")


@pytest.fixture(scope="session")
def fx(real_data, tmp_path_factory) -> Fixtures:
    """Musk1 imported as bags, an ABMIL and a GCE checkpoint on them, the CMU slide and the Musk1 CSV."""
    from core.models.base import HostConfig
    from core.models.checkpoint import save_checkpoint
    from core.models.gce import GCEConfig, build_gce
    from core.models.registry import build_host

    root = tmp_path_factory.mktemp("badinput_fixtures")
    assert main(["import-bags", str(real_data["musk1"]), "--out", str(root / "musk1")]) == 0
    torch.manual_seed(0)
    host = build_host("abmil", HostConfig(in_dim=166, n_outputs=2, hidden=16, attn_hidden=8, dropout=0.0))
    save_checkpoint(root / "abmil.pt", host, {"host": "abmil", "host_config": host.config.to_dict(),
                                               "task": "classification", "classes": ["0", "1"]})
    anchors = np.random.default_rng(0).standard_normal((3, 166))
    gce = build_gce(host, anchors, GCEConfig(), "digest", ("a", "b", "c"))
    save_checkpoint(root / "gce.pt", gce, {**gce.to_config(), "task": "classification", "classes": ["0", "1"]})
    bags = sorted((root / "musk1" / "features").glob("*.h5"))
    return Fixtures(slide=real_data["cmu_slide"], bags=bags, manifest=root / "musk1" / "manifest.csv",
                    ckpt=root / "abmil.pt", gce=root / "gce.pt", musk_csv=real_data["musk1"])


def _tree(d: Path) -> dict[str, str]:
    """Every entry under ``d``: file -> sha256, folder -> "dir", link -> its target (never followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(d, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(d))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _without_failure_records(tree: dict[str, str], d: Path, error_line: str, before: dict[str, str]) -> dict[str, str]:
    """``tree`` less what a per-slide command rightly leaves after a bad slide (docs/scheduler.md): the
    ledger record of that slide's failure, with the error it printed, and the new folders holding it."""
    records = [rel for rel in tree if "/.evident/ledger/" in f"/{rel}" and rel.endswith(".json")]
    for rel in records:
        record = json.loads((d / rel).read_text(encoding="utf-8"))
        assert record["state"] == "failed" and error_line == f"error: {record['error']}", record
    kept = {rel: v for rel, v in tree.items() if rel not in records}
    if records:  # the folders above the records, when they hold nothing else
        for rel in sorted((r for r, v in kept.items() if v == "dir"), key=len, reverse=True):
            if rel not in before and not any(other.startswith(rel + "/") for other in kept) \
                    and any(r.startswith(rel + "/") for r in records):
                del kept[rel]
    return kept


def _fixture_digests(fx: Fixtures) -> dict[str, str]:
    files = [fx.ckpt, fx.gce, fx.manifest, fx.bags[0], fx.slide, fx.musk_csv]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _check(run, d, before, rc, err, fx, fixture_digests):
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"exit {rc}; stderr: {err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, f"{len(lines)} stderr lines: {lines[:5]}"
    assert lines[0].startswith(f"error: {run.culprit}: "), f"culprit {run.culprit} not named first: {lines[0][:400]}"
    assert _without_failure_records(_tree(d), d, lines[0], before) == before, "inputs changed or output/temporaries left behind"
    assert not (d / "PWNED").exists(), "a hostile pickle was executed"
    assert _fixture_digests(fx) == fixture_digests


def test_the_corpus_is_large_enough():
    families = {name.split("-")[0] for name in CASES}
    assert len(CASES) >= 150
    assert families >= {"slide", "bag", "manifest", "annotation", "checkpoint", "anchors", "milcsv", "evidence", "out"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_in_process(name, fx, tmp_path, capsys, monkeypatch):
    d = tmp_path / "case"
    d.mkdir()
    run = CASES[name](d, fx)
    before, digests = _tree(d), _fixture_digests(fx)
    for k, v in run.extra_env.items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    if run.viewer_loader == "annotations":  # what the viewer shows is the EvidentError's text
        from core.errors import EvidentError
        from core.review.loading import read_annotation_layers

        with pytest.raises(EvidentError) as caught:
            read_annotation_layers(run.culprit)
        rc, err = 2, f"error: {caught.value}\n" + capsys.readouterr().err
    else:
        rc = main(run.argv)
        err = capsys.readouterr().err
    _check(run, d, before, rc, err, fx, digests)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_as_a_process(name, fx, tmp_path):
    d = tmp_path / "case"
    d.mkdir()
    run = CASES[name](d, fx)
    before, digests = _tree(d), _fixture_digests(fx)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **run.extra_env}
    env.pop("PYTHONWARNINGS", None)  # warnings print as a user would see them: each one is a failure here
    proc = subprocess.run([sys.executable, "-m", "core.cli", *run.argv], capture_output=True, text=True, env=env,
                          cwd=d, timeout=240)
    _check(run, d, before, proc.returncode, proc.stderr, fx, digests)
